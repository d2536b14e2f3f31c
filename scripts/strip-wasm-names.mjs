// Copies a .wasm file without its custom `name` section (Rust function names, kept by
// worker-build's wasm-bindgen run and not removed with --no-opt). Used for the size figures in
// the release bundle; scripts/build.sh runs it after worker-build.
//   node scripts/strip-wasm-names.mjs build/index_bg.wasm [out.wasm]
import { readFileSync, writeFileSync } from "node:fs";

const [input, output = input] = process.argv.slice(2);
const bytes = readFileSync(input);
const uleb = (i) => {
  let value = 0;
  let shift = 0;
  let b;
  do {
    b = bytes[i++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return [value, i];
};
const kept = [bytes.subarray(0, 8)]; // magic and version
for (let i = 8; i < bytes.length; ) {
  const start = i;
  const id = bytes[i++];
  const [size, body] = uleb(i);
  const end = body + size;
  const isName = id === 0 && (() => {
    const [len, at] = uleb(body);
    return bytes.subarray(at, at + len).toString() === "name";
  })();
  if (!isName) kept.push(bytes.subarray(start, end));
  i = end;
}
writeFileSync(output, Buffer.concat(kept));
