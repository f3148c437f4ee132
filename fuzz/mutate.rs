// Deterministic mutations of the seed corpus (`fuzz/corpus/`), shared by the tests that feed
// client bytes to each parser: every seed as it is, then truncated, bit-flipped, spliced and with
// bytes inserted, from a fixed xorshift stream so a failure names a reproducible input.

/// A seed's mutations: the seed itself first, then `n` variations.
pub(crate) fn mutations(seed: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ seed.len() as u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = vec![seed.to_vec()];
    for _ in 0..n {
        let mut m = seed.to_vec();
        for _ in 0..=(next() % 4) {
            let at = |len: usize, r: u64| {
                if len == 0 {
                    0
                } else {
                    (r % len as u64) as usize
                }
            };
            match next() % 6 {
                0 => m.truncate(at(m.len() + 1, next())),
                1 => {
                    let i = at(m.len(), next());
                    if let Some(b) = m.get_mut(i) {
                        *b ^= 1 << (next() % 8);
                    }
                }
                2 => {
                    let i = at(m.len() + 1, next());
                    let byte =
                        [0x00, 0xff, b'\n', b',', b'-', b'9', b':', b'.'][(next() % 8) as usize];
                    m.insert(i.min(m.len()), byte);
                }
                3 => {
                    // Repeat a slice: long numbers, many separators, deep nesting.
                    let i = at(m.len(), next());
                    let j = (i + 1 + at(16, next())).min(m.len());
                    let piece = m[i.min(j)..j].to_vec();
                    for _ in 0..(next() % 64) {
                        m.splice(j..j, piece.iter().copied());
                    }
                }
                4 => {
                    let i = at(m.len(), next());
                    if let Some(b) = m.get_mut(i) {
                        *b = next() as u8;
                    }
                }
                _ => m.reverse(),
            }
        }
        out.push(m);
    }
    out
}

/// Every file of `fuzz/corpus/{name}/`, sorted, as (file name, bytes).
pub(crate) fn seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no seeds in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}
