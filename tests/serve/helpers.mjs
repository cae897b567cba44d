// Starts `frugal serve` on a free loopback port for the node tests.
import { spawn } from "node:child_process";
import { once } from "node:events";
import path from "node:path";

export const MODELS = process.env.FG_TEST_MODELS;
export const BIN = process.env.FG_BIN;

export async function startServer(model = "llama-tiny-f32.gguf", args = []) {
  if (!BIN || !MODELS) throw new Error("FG_BIN and FG_TEST_MODELS must be set");
  const proc = spawn(BIN, ["serve", path.join(MODELS, model), "--port", "0", "--threads", "1", ...args],
                     { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => { err += d; });
  let out = "";
  const url = await new Promise((resolve, reject) => {
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/http:\/\/([^\s]+?)\/?\s/);
      if (m) resolve("http://" + m[1]);
    });
    proc.on("exit", (code) => reject(new Error("server exited (" + code + "): " + err)));
  });
  return {
    url,
    proc,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill("SIGTERM");
      const [code] = await once(proc, "exit");
      return code;
    },
  };
}
