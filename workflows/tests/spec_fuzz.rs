//! Fuzz-style property test: random edits of valid specs never panic, and every error has a
//! position inside the file and the documented Display shape.

use std::sync::Once;

use failback_workflows::spec;

fn env() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("FAILBACK_PS_ADMIN_PASSWORD", "Fb-Fuzz-Passw0rd!");
        std::env::set_var("FAILBACK_CS_PASSPHRASE", "fuzz-passphrase");
        std::env::set_var("FAILBACK_TEST_PS_PASSWORD", "Fb-Fuzz-Passw0rd!");
        std::env::set_var("FAILBACK_TEST_CS_PASSPHRASE", "fuzz-passphrase");
    });
}

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[char] = &[
    '[', ']', '{', '}', '"', '\'', '=', '\n', '#', '.', ',', ' ', '0', '9', 'a', 'z', '-', '_',
    '/', 'é', '\\', 't', '\u{0}',
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=rng.below(3) {
        let at = rng.below(chars.len() + 1).min(chars.len());
        match rng.below(4) {
            0 => {
                let end = (at + rng.below(12)).min(chars.len());
                chars.drain(at..end);
            }
            1 => {
                for _ in 0..=rng.below(4) {
                    chars.insert(at, ALPHABET[rng.below(ALPHABET.len())]);
                }
            }
            2 => {
                let lines: Vec<String> = chars
                    .iter()
                    .collect::<String>()
                    .lines()
                    .map(str::to_owned)
                    .collect();
                let (i, j) = (rng.below(lines.len()), rng.below(lines.len()));
                let mut lines = lines;
                if i < lines.len() && j < lines.len() {
                    lines.swap(i, j);
                }
                chars = lines.join("\n").chars().collect();
            }
            _ => {
                if let Some(c) = chars.get_mut(at) {
                    *c = ALPHABET[rng.below(ALPHABET.len())];
                }
            }
        }
    }
    chars.into_iter().collect()
}

#[test]
fn random_edits_never_panic() {
    env();
    let seeds = [
        spec::example().to_owned(),
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/spec-corpus/good/two-networks.toml"
        ))
        .unwrap(),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = 0;
    for i in 0..3000 {
        let text = mutate(&mut rng, &seeds[i % seeds.len()]);
        let Err(errs) = spec::parse(&text, "fuzz.toml") else {
            continue;
        };
        failures += 1;
        assert!(!errs.is_empty());
        let lines = text.split('\n').count();
        for e in errs.errors() {
            assert!(
                e.line >= 1 && e.line <= lines && e.column >= 1,
                "{e}\n--- input ---\n{text}"
            );
            assert!(e
                .to_string()
                .starts_with(&format!("fuzz.toml:{}:{}: {}: ", e.line, e.column, e.field)));
            assert!(!e.message.is_empty() && !e.field.is_empty());
        }
    }
    assert!(
        failures > 1000,
        "the edits should usually break the spec ({failures})"
    );
}
