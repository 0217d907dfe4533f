/* After a reload (or on coming back to the page), the image and video pages pick up where the user left
 * off: each job panel resumes the user's newest run of its kinds, read from the server (GET /tasks, the
 * same history the Runs page shows), so a run still going is followed again — with Cancel — and a
 * finished one shows its result, whichever device sent it. A GIF is restored only under the image it
 * animates. Include after the page's own script (its panels must exist). Uses window.Soul (job.js). */
"use strict";

(function () {
  const S = window.Soul;
  const PANELS = [
    ["image-job", ["image", "selfie"]],
    ["video-job", ["svd"]],
    ["wan-job", ["wan"]],
  ];
  const READ = 20; // the user's newest runs looked through

  function idle(panel) {
    return panel.run === 0 || panel.root.dataset.state === "idle"; // nothing sent from this page load yet
  }

  async function restore() {
    const panels = PANELS.map(([id, kinds]) => [document.getElementById(id), kinds])
      .filter(([root]) => root && root.soulPanel)
      .map(([root, kinds]) => [root.soulPanel, kinds]);
    if (!panels.length) return;
    let tasks;
    try {
      tasks = (await S.api("GET", "/tasks", { query: { user_id: S.user(), limit: READ } })).data.tasks;
    } catch (_err) {
      return; // nothing to restore from; the page works as if first opened
    }
    let image = null; // the image on screen after restoring, the only one a restored GIF may sit under
    for (const [panel, kinds] of panels) {
      const task = tasks.find((t) => kinds.includes(t.kind));
      if (!task || !idle(panel)) continue;
      if (task.kind === "svd" && task.spec.source_variant_id !== image) continue;
      panel.resume(task, task.kind === "selfie" ? "Selfie" : undefined);
      if (task.result && (task.kind === "image" || task.kind === "selfie")) image = task.result.variant_id;
    }
    document.body.dataset.restored = "true"; // tests wait on this
  }

  document.addEventListener("DOMContentLoaded", restore);
  document.addEventListener("soul:user", () => {
    for (const [id] of PANELS) document.getElementById(id)?.soulPanel?.reset("");
    restore();
  });
})();
