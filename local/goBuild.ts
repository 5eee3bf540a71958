/**
 * Go programs the harness runs, built here from the Go module proxy (or from this repository)
 * once and kept in .cache/go-bin; Go's own caches make a rebuild after a clean clone quick.
 */
import * as fs from "fs";
import * as path from "path";
import { PACKAGE_ROOT as ROOT } from "../cloud-init/assets";
import { run } from "./process";

const BIN = path.join(ROOT, ".cache", "go-bin");

/** The Go toolchain's `go`: GOROOT's, the official install's, or the one on PATH. */
export function go(): string {
  return [process.env.GOROOT ? path.join(process.env.GOROOT, "bin", "go") : "", "/usr/local/go/bin/go"].find((g) => g && fs.existsSync(g)) ?? "go";
}

/** The gofmt beside that `go`. */
export function gofmt(): string {
  return go() === "go" ? "gofmt" : path.join(path.dirname(go()), "gofmt");
}

/** `go install module@version` into .cache/go-bin/<name>/ (each its own directory: binaries may share a name). */
export function goInstall(name: string, moduleAtVersion: string, binary: string): string {
  const dir = path.join(BIN, name);
  const built = path.join(dir, binary);
  if (fs.existsSync(built)) return built;
  const r = run(go(), ["install", moduleAtVersion], { env: { ...process.env, GOBIN: dir, GOFLAGS: "-mod=mod" } });
  if (r.code !== 0) throw new Error(`go install ${moduleAtVersion}: ${r.stderr}`);
  return built;
}

/** `go build` of a program of this repository (its own go.mod and go.sum), rebuilt when its sources change. */
export function goBuildHere(dir: string, name: string): string {
  const source = path.join(ROOT, dir);
  const built = path.join(BIN, name, name);
  const newest = Math.max(...fs.readdirSync(source).map((f) => fs.statSync(path.join(source, f)).mtimeMs));
  if (fs.existsSync(built) && fs.statSync(built).mtimeMs >= newest) return built;
  const r = run(go(), ["build", "-o", built, "."], { cwd: source });
  if (r.code !== 0) throw new Error(`go build ${dir}: ${r.stderr}`);
  return built;
}
