"""Soul's domain: records, prompt keys, variant selection, the job state machine. Pure; no I/O."""
