// Where a Wasm module's code bytes are, and what keeps them in: for the edge's size budget
// (preflight/src/size.rs). Needs a module that kept its `name` section: build with
//   WASM_BINDGEN_BIN=~/.cargo/bin/wasm-bindgen ESBUILD_BIN=$PWD/node_modules/@esbuild/linux-x64/bin/esbuild \
//     ~/.cargo/bin/worker-build --release --no-opt --out-dir build-named
// (scripts/build.sh strips the names from build/).
//
//   node scripts/wasm-size.mjs build-named/index_bg.wasm [REGEX]
//       code bytes by crate, by module and the largest functions; with REGEX, the matching
//       functions (by demangled name) and their total
//   node scripts/wasm-size.mjs build-named/index_bg.wasm callers REGEX
//       each matching function and the functions that call it directly ([elem]: also reachable
//       through the function table, i.e. a vtable or a closure; [export]: exported)
//   node scripts/wasm-size.mjs build-named/index_bg.wasm cut REGEX
//       the code that would leave the module with the matching functions: what is reachable only
//       through them from the exports, the start function and the function table
//
// Sizes are code bytes before gzip (data, e.g. tables, is counted apart); gzip keeps roughly 40 % of
// code. The call graph is of direct calls; calls through the table are counted as reaching every
// function in it, so a function kept in by a vtable alone shows no saving in `cut`.
import { readFileSync } from "node:fs";

const [file, ...rest] = process.argv.slice(2);
if (!file) {
  console.error("usage: node scripts/wasm-size.mjs FILE.wasm [REGEX | callers REGEX | cut REGEX]");
  process.exit(2);
}
const [command, pattern] = rest[0] === "callers" || rest[0] === "cut" ? rest : ["sizes", rest[0]];
const buf = readFileSync(file);

// ---- the module's sections --------------------------------------------------------------------
let p = 8;
const uleb = () => {
  let value = 0;
  let shift = 0;
  let b;
  do {
    b = buf[p++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  return value;
};
const skipLeb = () => {
  while (buf[p++] & 0x80);
};
// A name or string: its length, then its bytes (read the length before moving `p` past it).
const skipName = () => {
  const len = uleb();
  p += len;
};
let importedFuncs = 0;
let dataBytes = 0;
const names = new Map();
const bodies = []; // [function index, offset, size]
const roots = new Set(); // exports and start
const tableFuncs = new Set(); // element segments
while (p < buf.length) {
  const id = buf[p++];
  const size = uleb();
  const end = p + size;
  if (id === 2) {
    // imports: only functions take an index in the function space
    for (let n = uleb(), i = 0; i < n; i++) {
      skipName(); // module
      skipName(); // field
      const kind = buf[p++];
      if (kind === 0) {
        uleb();
        importedFuncs++;
      } else if (kind === 1) {
        p++;
        const flags = uleb();
        uleb();
        if (flags & 1) uleb();
      } else if (kind === 2) {
        const flags = uleb();
        uleb();
        if (flags & 1) uleb();
      } else if (kind === 3) {
        p += 2;
      } else if (kind === 4) {
        p++;
        uleb();
      }
    }
  } else if (id === 7) {
    for (let n = uleb(), i = 0; i < n; i++) {
      skipName();
      const kind = buf[p++];
      const index = uleb();
      if (kind === 0) roots.add(index);
    }
  } else if (id === 8) {
    roots.add(uleb());
  } else if (id === 9) {
    for (let n = uleb(), i = 0; i < n; i++) {
      const flags = uleb();
      if (flags === 2) uleb(); // table index
      if (flags === 0 || flags === 2) {
        p++; // i32.const
        skipLeb();
        p++; // end
      }
      if (flags !== 0) p++; // elemkind
      if (flags > 3) throw new Error(`element segment with flags ${flags} (expressions) not read`);
      for (let m = uleb(), j = 0; j < m; j++) tableFuncs.add(uleb());
    }
  } else if (id === 10) {
    for (let n = uleb(), i = 0; i < n; i++) {
      const s = uleb();
      bodies.push([importedFuncs + i, p, s]);
      p += s;
    }
  } else if (id === 11) {
    dataBytes = size;
  } else if (id === 0) {
    const nameLen = uleb();
    const sectionName = buf.subarray(p, p + nameLen).toString();
    p += nameLen;
    if (sectionName === "name") {
      while (p < end) {
        const sub = buf[p++];
        const subLen = uleb();
        const subEnd = p + subLen;
        if (sub === 1) {
          for (let n = uleb(), i = 0; i < n; i++) {
            const index = uleb();
            const len = uleb();
            names.set(index, buf.subarray(p, p + len).toString());
            p += len;
          }
        }
        p = subEnd;
      }
    }
  }
  p = end;
}
if (names.size === 0) console.error(`${file} has no name section: build it with names kept (see the top of this script)`);

// Rust's names without the hash suffix and crate disambiguators: `core[c593…]::num::…::h0123…`.
const demangled = (i) => (names.get(i) ?? `f${i}`).replace(/::h[0-9a-f]{16}$/, "").replace(/\[[0-9a-f]+\]/g, "");
const size = new Map(bodies.map(([i, , s]) => [i, s]));
const total = (fs) => [...fs].reduce((a, f) => a + (size.get(f) ?? 0), 0);
const row = (bytes, text) => `${String(bytes).padStart(8)} ${text}`;

// ---- the direct calls of each body --------------------------------------------------------------
const calls = new Map();
const blockType = () => {
  const b = buf[p];
  if (b === 0x40 || (b >= 0x6f && b <= 0x7f)) p++;
  else skipLeb();
};
const readCalls = () => {
  for (const [index, offset, s] of bodies) {
    const out = new Set();
    calls.set(index, out);
    p = offset;
    const end = offset + s;
    for (let n = uleb(), i = 0; i < n; i++) {
      uleb();
      p++;
    }
    while (p < end) {
      const op = buf[p++];
      if (op === 0x10 || op === 0x12) out.add(uleb()); // call, return_call
      else if (op === 0x02 || op === 0x03 || op === 0x04 || op === 0x06) blockType();
      else if (op === 0x0c || op === 0x0d || op === 0x07 || op === 0x08 || op === 0x09 || op === 0x18) uleb();
      else if (op === 0x0e) for (let n = uleb(), i = 0; i <= n; i++) uleb();
      else if (op === 0x11 || op === 0x13) {
        uleb();
        uleb();
      } else if (op === 0x1c) {
        const n = uleb();
        p += n;
      }
      else if (op === 0x1f) {
        blockType();
        for (let n = uleb(), i = 0; i < n; i++) {
          if (buf[p++] < 2) uleb();
          uleb();
        }
      } else if (op >= 0x20 && op <= 0x26) uleb();
      else if (op >= 0x28 && op <= 0x3e) {
        if (uleb() & 0x40) uleb();
        uleb();
      } else if (op === 0x3f || op === 0x40 || op === 0xd2) uleb();
      else if (op === 0x41 || op === 0x42) skipLeb();
      else if (op === 0x43) p += 4;
      else if (op === 0x44) p += 8;
      else if (op === 0xd0) p++;
      else if (op === 0xfc) {
        const sub = uleb();
        if (sub === 8 || sub === 10 || sub === 12 || sub === 14) {
          uleb();
          uleb();
        } else if (sub > 7) uleb();
      } else if (op === 0xfd) throw new Error(`SIMD in ${demangled(index)}: not read`);
      else if (!(op <= 0x1b || (op >= 0x45 && op <= 0xc4) || op === 0xd1)) {
        throw new Error(`opcode 0x${op.toString(16)} in ${demangled(index)} not read`);
      }
    }
  }
};
const reachable = (removed) => {
  const seen = new Set();
  const stack = [...roots, ...tableFuncs].filter((f) => !removed.has(f));
  for (const f of stack) seen.add(f);
  while (stack.length) {
    for (const g of calls.get(stack.pop()) ?? []) {
      if (!seen.has(g) && !removed.has(g)) {
        seen.add(g);
        stack.push(g);
      }
    }
  }
  return seen;
};
const matching = () => {
  const re = new RegExp(pattern ?? "^$");
  return bodies.map(([i]) => i).filter((i) => re.test(demangled(i)));
};

// ---- the commands -----------------------------------------------------------------------------
if (command === "sizes") {
  console.log(`code ${total(size.keys())} bytes in ${bodies.length} functions; data ${dataBytes} bytes`);
  const group = (key) => {
    const by = new Map();
    for (const [i, , s] of bodies) {
      const k = key(demangled(i));
      by.set(k, (by.get(k) ?? 0) + s);
    }
    return [...by].sort((a, b) => b[1] - a[1]);
  };
  // `<alloc::vec::Vec<T> as …>::f` counts for `alloc`; `core::num::flt2dec::…` for `core`.
  const crate = (d) => /^<*(?:&(?:mut )?)?([A-Za-z_][A-Za-z0-9_]*)/.exec(d)?.[1] ?? d.slice(0, 30);
  const module = (d) => /^<*(?:&(?:mut )?)?([a-z_0-9]+::[a-z_0-9]+(?:::[a-z_0-9]+)?)/.exec(d)?.[1] ?? d.slice(0, 40);
  console.log("--- by crate");
  for (const [k, s] of group(crate).slice(0, 30)) console.log(row(s, k));
  console.log("--- by module");
  for (const [k, s] of group(module).slice(0, 60)) console.log(row(s, k));
  console.log("--- largest functions");
  for (const [i, , s] of [...bodies].sort((a, b) => b[2] - a[2]).slice(0, 60)) console.log(row(s, demangled(i).slice(0, 160)));
  if (pattern) {
    const sel = matching();
    console.log(`--- matching /${pattern}/: ${sel.length} functions, ${total(sel)} bytes`);
    for (const i of sel.sort((a, b) => size.get(b) - size.get(a)).slice(0, 100)) console.log(row(size.get(i), demangled(i).slice(0, 200)));
  }
} else if (command === "callers") {
  readCalls();
  const callers = new Map();
  for (const [f, out] of calls) for (const g of out) callers.set(g, [...(callers.get(g) ?? []), f]);
  for (const f of matching()) {
    const marks = `${tableFuncs.has(f) ? " [elem]" : ""}${roots.has(f) ? " [export]" : ""}`;
    console.log(row(size.get(f), demangled(f) + marks));
    for (const g of callers.get(f) ?? []) console.log(`    ${row(size.get(g) ?? 0, demangled(g).slice(0, 180))}`);
  }
} else if (command === "cut") {
  readCalls();
  const sel = matching();
  const before = reachable(new Set());
  const after = reachable(new Set(sel));
  const gone = [...before].filter((f) => !after.has(f)).sort((a, b) => size.get(b) - size.get(a));
  console.log(`${sel.length} functions match (${total(sel)} bytes); without them ${total(before) - total(after)} bytes of code leave:`);
  for (const f of gone.slice(0, 60)) console.log(row(size.get(f), demangled(f).slice(0, 180)));
}
