"""The HTTP function `api` and the Pub/Sub dispatcher: thin edges over the service layer."""
