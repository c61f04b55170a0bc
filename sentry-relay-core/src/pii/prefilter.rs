//! Cheap tests run before the regexes of built-in rules.
//!
//! Most strings of an event hold nothing a built-in rule looks for, and
//! running a dozen regexes on each costs more than everything else in
//! scrubbing. So each string is scanned once into [`TextStats`] (counts of
//! the bytes patterns need), and a rule's regex runs only when its
//! [`Needs`] say it could find something. A prefilter may say yes when the
//! regex finds nothing, never the other way round; the tests below check
//! that against the regexes on random strings.
//!
//! The password and token key patterns, which run on every key, have exact
//! byte-level matchers for ASCII text ([`FastKey`]); other text goes to
//! the regex.

/// The letter bits of an ASCII word: bit 0 for `a` or `A`.
const fn letters(word: &str) -> u32 {
    let bytes = word.as_bytes();
    let mut mask = 0;
    let mut i = 0;
    while i < bytes.len() {
        let l = (bytes[i] | 0x20).wrapping_sub(b'a');
        if l < 26 {
            mask |= 1 << l;
        }
        i += 1;
    }
    mask
}

/// Lanes of the packed byte counts of [`TextStats::new`], one byte each.
const DIGIT: u32 = 0;
const DOT: u32 = 1;
const COLON: u32 = 2;
const DASH: u32 = 3;
const AT: u32 = 4;
const SLASH: u32 = 5;
const UPPER: u32 = 6;
const NON_ASCII: u32 = 7;

/// For each byte, one in the lane of its class.
const PACKED: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let lane = match b as u8 {
            b'0'..=b'9' => Some(DIGIT),
            b'.' => Some(DOT),
            b':' => Some(COLON),
            b'-' => Some(DASH),
            b'@' => Some(AT),
            b'/' | b'\\' => Some(SLASH),
            b'A'..=b'Z' => Some(UPPER),
            0x80..=0xff => Some(NON_ASCII),
            _ => None,
        };
        if let Some(lane) = lane {
            t[b] = 1 << (lane * 8);
        }
        b += 1;
    }
    t
};

/// For each byte, the bit of its ASCII letter, case-insensitively.
const LETTER: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut b = 0;
    while b < 26 {
        t[b'a' as usize + b] = 1 << b;
        t[b'A' as usize + b] = 1 << b;
        b += 1;
    }
    t
};

/// What one pass over a string found: enough to rule out most patterns.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TextStats {
    len: usize,
    /// How many bytes of each class, one byte per lane, at most 255: no
    /// need asks for more than 15 of a class.
    counts: u64,
    /// Which ASCII letters occur, case-insensitively.
    letters: u32,
}

impl TextStats {
    pub(crate) fn new(text: &str) -> Self {
        let mut stats = TextStats {
            len: text.len(),
            ..TextStats::default()
        };
        // Counts packed in the bytes of a `u64`, added up 255 bytes at a
        // time so that no lane overflows, then added lane by lane, at most
        // 255 each.
        for (i, block) in text.as_bytes().chunks(255).enumerate() {
            let mut packed = 0u64;
            for &b in block {
                packed += PACKED[usize::from(b)];
                stats.letters |= LETTER[usize::from(b)];
            }
            stats.counts = if i == 0 {
                packed
            } else {
                saturating_lane_add(stats.counts, packed)
            };
        }
        stats
    }

    fn count(&self, lane: u32) -> u32 {
        ((self.counts >> (lane * 8)) & 0xff) as u32
    }

    fn non_ascii(&self) -> bool {
        self.count(NON_ASCII) > 0
    }

    fn has_letters(&self, word: u32) -> bool {
        self.letters & word == word
    }
}

/// The lane-wise sum of two packed counts, each lane at most 255.
fn saturating_lane_add(a: u64, b: u64) -> u64 {
    (0..8).fold(0, |out, lane| {
        let shift = lane * 8;
        let sum = ((a >> shift) & 0xff) + ((b >> shift) & 0xff);
        out | sum.min(0xff) << shift
    })
}

/// What a string must contain for a rule's pattern to find anything in it
/// or in any part of it (the parts between earlier redactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Unknown (custom patterns): always run the regex.
    Anything,
    /// Three dots and four digits (`@ip`, IPv4).
    Ipv4,
    /// Two colons (`@ip`, IPv6).
    Ipv6,
    /// Fifteen ASCII digits: card numbers are 15 or 16 of them, and only
    /// ASCII digits count.
    Creditcard,
    /// Two ASCII capitals and two ASCII digits in 15 bytes: the IBAN check
    /// accepts ASCII letters and digits only.
    Iban,
    /// Fifteen digits, or any non-ASCII text (Unicode digits).
    Imei,
    /// Five colons or dashes.
    Mac,
    /// 32 bytes.
    Uuid,
    /// An `@` and a dot.
    Email,
    /// Two dashes.
    Usssn,
    /// `bearer`, ASCII case-insensitively, or any non-ASCII text (Unicode
    /// case folding).
    Bearer,
    /// A slash or backslash, and `home`, `users` or `settings` (or any
    /// non-ASCII text).
    Userpath,
    /// `-----BEGIN`.
    Pemkey,
    /// `//` and an `@`.
    Urlauth,
    /// The letters of one of the password key pattern's words (or any
    /// non-ASCII text).
    PasswordKey,
    /// The letters of `token` (or any non-ASCII text).
    TokenKey,
}

impl Needs {
    /// This need as one bit of a [`Needs::check_all`] result.
    pub(crate) fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The bits of the needs among `wanted` that `text` meets: what
    /// [`Needs::may_match`] says for each, the needs that only count bytes
    /// worked out together without branches.
    pub(crate) fn check_all(wanted: u32, text: &str, stats: &TextStats) -> u32 {
        use Needs::*;
        let bit = |need: Needs, yes: bool| u32::from(yes) << need as u32;
        let counted = [
            Anything, Ipv4, Ipv6, Creditcard, Iban, Imei, Mac, Uuid, Email, Usssn, TokenKey,
        ];
        let mut bits = counted.into_iter().fold(0, |bits, need| {
            bits | bit(need, need.may_match(text, stats))
        });
        bits &= wanted;
        for need in [Bearer, Userpath, Pemkey, Urlauth, PasswordKey] {
            if wanted & need.bit() != 0 && need.may_match(text, stats) {
                bits |= need.bit();
            }
        }
        bits
    }

    /// Whether the pattern could find something in `text` (whose stats are
    /// `stats`) or in a part of it.
    #[inline]
    pub(crate) fn may_match(self, text: &str, stats: &TextStats) -> bool {
        match self {
            Needs::Anything => true,
            Needs::Ipv4 => stats.count(DOT) >= 3 && stats.count(DIGIT) >= 4,
            Needs::Ipv6 => stats.count(COLON) >= 2,
            Needs::Creditcard => stats.count(DIGIT) >= 15,
            Needs::Iban => stats.len >= 15 && stats.count(DIGIT) >= 2 && stats.count(UPPER) >= 2,
            Needs::Imei => stats.non_ascii() || stats.count(DIGIT) >= 15,
            Needs::Mac => stats.count(COLON) + stats.count(DASH) >= 5,
            Needs::Uuid => stats.len >= 32,
            Needs::Email => stats.count(AT) >= 1 && stats.count(DOT) >= 1,
            Needs::Usssn => stats.count(DASH) >= 2,
            Needs::Bearer => {
                stats.non_ascii()
                    || (stats.has_letters(letters("bearer"))
                        && contains_ignore_ascii_case(text, "bearer"))
            }
            Needs::Userpath => {
                stats.count(SLASH) >= 1
                    && (stats.non_ascii()
                        || (stats.has_letters(letters("home"))
                            && contains_ignore_ascii_case(text, "home"))
                        || (stats.has_letters(letters("users"))
                            && contains_ignore_ascii_case(text, "users"))
                        || (stats.has_letters(letters("settings"))
                            && contains_ignore_ascii_case(text, "settings")))
            }
            Needs::Pemkey => stats.count(DASH) >= 10 && text.contains("-----BEGIN"),
            Needs::Urlauth => {
                stats.count(AT) >= 1 && stats.count(SLASH) >= 2 && text.contains("//")
            }
            Needs::PasswordKey => {
                stats.non_ascii()
                    || PASSWORD_LETTERS.iter().any(|l| stats.has_letters(*l))
                    // `^otp$`, `^two[-_]factor$`.
                    || (stats.len == 3 && stats.has_letters(letters("otp")))
                    || (stats.len == 10 && stats.has_letters(letters("twofactor")))
            }
            Needs::TokenKey => stats.non_ascii() || stats.has_letters(letters("token")),
        }
    }
}

/// Whether `text` contains `word` (ASCII lowercase), ASCII
/// case-insensitively.
pub(crate) fn contains_ignore_ascii_case(text: &str, word: &str) -> bool {
    let (text, word) = (text.as_bytes(), word.as_bytes());
    let Some((&first, rest)) = word.split_first() else {
        return true;
    };
    if text.len() < word.len() {
        return false;
    }
    let upper = first.to_ascii_uppercase();
    text[..=text.len() - word.len()]
        .iter()
        .enumerate()
        .any(|(i, &b)| {
            (b == first || b == upper) && text[i + 1..i + word.len()].eq_ignore_ascii_case(rest)
        })
}

/// A key pattern with an exact matcher for ASCII text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FastKey {
    /// [`PASSWORD_KEY_PATTERN`](super::rules::PASSWORD_KEY_PATTERN).
    Password,
    /// [`TOKEN_KEY_PATTERN`](super::rules::TOKEN_KEY_PATTERN).
    Token,
}

impl FastKey {
    /// What a string needs for the pattern to match it.
    pub(crate) fn needs(self) -> Needs {
        match self {
            FastKey::Password => Needs::PasswordKey,
            FastKey::Token => Needs::TokenKey,
        }
    }

    /// Whether the pattern matches `text`; `None` for non-ASCII text, where
    /// Unicode case folding (`K` for `k`, `ſ` for `s`) needs the regex.
    pub(crate) fn is_match(self, text: &str) -> Option<bool> {
        let (password, token) = scan_keys(text)?;
        Some(match self {
            FastKey::Password => password,
            FastKey::Token => token,
        })
    }
}

/// Whether ASCII `text` matches the password and the token patterns; `None`
/// for non-ASCII text.
pub(crate) fn scan_keys(text: &str) -> Option<(bool, bool)> {
    text.is_ascii().then(|| scan_ascii_keys(text.as_bytes()))
}

/// Whether a byte starts a word of the key patterns (either case).
const STARTS_WORD: [bool; 256] = {
    let mut t = [false; 256];
    let starts = b"psacmtPSACMT";
    let mut i = 0;
    while i < starts.len() {
        t[starts[i] as usize] = true;
        i += 1;
    }
    t
};

/// The password pattern,
/// `(?i)(?:password|secret|passwd|api[-_]key|apikey|auth|credentials|
/// mysql_pwd|privatekey|private[-_]key|token\S*[:=]|^otp$|^two[-_]factor$)`,
/// and the token pattern, `(?i)token`, on ASCII text.
fn scan_ascii_keys(s: &[u8]) -> (bool, bool) {
    let mut password = s.eq_ignore_ascii_case(b"otp")
        || s.eq_ignore_ascii_case(b"two-factor")
        || s.eq_ignore_ascii_case(b"two_factor");
    let mut token = false;
    let at = |i: usize, word: &[u8]| {
        s.get(i..i + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    for (i, &b) in s.iter().enumerate() {
        if !STARTS_WORD[usize::from(b)] {
            continue;
        }
        // Most starts are ruled out by the next letter.
        let next = s.get(i + 1).map_or(0, |n| n | 0x20);
        if !matches!(
            (b | 0x20, next),
            (b'p', b'a' | b'r')
                | (b's', b'e')
                | (b'a', b'u' | b'p')
                | (b'c', b'r')
                | (b'm', b'y')
                | (b't', b'o')
        ) {
            continue;
        }
        // `b` is a letter: `| 0x20` lowercases it.
        password |= match b | 0x20 {
            b'p' => {
                at(i, b"password")
                    || at(i, b"passwd")
                    || at(i, b"privatekey")
                    || at(i, b"private-key")
                    || at(i, b"private_key")
            }
            b's' => at(i, b"secret"),
            b'a' => at(i, b"auth") || at(i, b"apikey") || at(i, b"api-key") || at(i, b"api_key"),
            b'c' => at(i, b"credentials"),
            b'm' => at(i, b"mysql_pwd"),
            b't' if at(i, b"token") => {
                token = true;
                // `token\S*[:=]`: a `:` or `=` before the next whitespace.
                s[i + 5..]
                    .iter()
                    .find(|b| matches!(b, b':' | b'=' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' '))
                    .is_some_and(|b| matches!(b, b':' | b'='))
            }
            _ => false,
        };
        if password && token {
            break;
        }
    }
    (password, token)
}

/// The letters of the words of the password key pattern that may occur
/// anywhere in a key.
const PASSWORD_LETTERS: [u32; 8] = [
    letters("passwd"),
    letters("secret"),
    letters("apikey"),
    letters("auth"),
    letters("credentials"),
    letters("mysqlpwd"),
    letters("privatekey"),
    letters("token"),
];

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;
    use regex::Regex;

    use super::*;
    use crate::pii::rules::{PASSWORD_KEY_PATTERN, TOKEN_KEY_PATTERN, ValueMatcher};

    /// Strings made of pieces the patterns look for, separators, and
    /// random text (ASCII and not).
    fn text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("password"),
            Just("PassWD"),
            Just("secret"),
            Just("api-key"),
            Just("API_KEY"),
            Just("apikey"),
            Just("auth"),
            Just("credentials"),
            Just("mysql_pwd"),
            Just("privatekey"),
            Just("private_Key"),
            Just("token"),
            Just("Token"),
            Just("otp"),
            Just("two-factor"),
            Just("two_Factor"),
            Just("bearer"),
            Just("Bearer "),
            Just("/home/"),
            Just("C:\\Users\\"),
            Just("Documents and Settings/"),
            Just("-----BEGIN PRIVATE KEY-----\n"),
            Just("-----END PRIVATE KEY-----"),
            Just("https://"),
            Just("user:pw@"),
            Just("4111 1111 1111 1111"),
            Just("4242-4242-4242-4242"),
            Just("DE89370400440532013000"),
            Just("356938035643809"),
            Just("4a:00:04:10:9b:50"),
            Just("ceee0822-ed8f-4622-b2a3-789e73e75cd1"),
            Just("a@b.io"),
            Just("078-05-1120"),
            Just("10.0.0.1"),
            Just("2001:db8::1"),
            Just("::1"),
            Just("\u{212a}"),
            Just("\u{17f}"),
            Just("\u{663}"),
            Just(":"),
            Just("="),
            Just(" "),
            Just("\t"),
            Just("\u{b}"),
            Just("-"),
            Just("_"),
            Just("."),
            Just("1"),
        ]
        .prop_map(str::to_owned);
        let piece = prop_oneof![4 => piece, 1 => "[a-zA-Z0-9 .:@/-]{0,8}", 1 => ".{0,4}"];
        prop::collection::vec(piece, 0..6).prop_map(|p| p.concat())
    }

    /// The value matchers of the built-in rules (and of the legacy URL
    /// pattern), built once.
    fn value_matchers() -> &'static [ValueMatcher] {
        use crate::pii::config::RuleType;
        use crate::pii::rules::{Matcher, URLAUTH_LEGACY_PATTERN, matchers};
        static MATCHERS: LazyLock<Vec<ValueMatcher>> = LazyLock::new(|| {
            let types = [
                RuleType::Ip,
                RuleType::Creditcard,
                RuleType::Iban,
                RuleType::Imei,
                RuleType::Mac,
                RuleType::Uuid,
                RuleType::Email,
                RuleType::Usssn,
                RuleType::Bearer,
                RuleType::Userpath,
                RuleType::Pemkey,
                RuleType::Urlauth,
                RuleType::Password,
                RuleType::Pattern {
                    pattern: URLAUTH_LEGACY_PATTERN.to_owned(),
                    replace_groups: Some(vec![1]),
                },
            ];
            types
                .iter()
                .flat_map(|ty| matchers(ty, Regex::new).unwrap())
                .filter_map(|m| match m {
                    Matcher::Value(m) => Some(m),
                    _ => None,
                })
                .collect()
        });
        &MATCHERS
    }

    fn key_regexes() -> &'static [(FastKey, Regex)] {
        static KEYS: LazyLock<Vec<(FastKey, Regex)>> = LazyLock::new(|| {
            vec![
                (FastKey::Password, Regex::new(PASSWORD_KEY_PATTERN).unwrap()),
                (FastKey::Token, Regex::new(TOKEN_KEY_PATTERN).unwrap()),
            ]
        });
        &KEYS
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn fast_keys_agree_with_their_regexes(s in text()) {
            let stats = TextStats::new(&s);
            for (fast, re) in key_regexes() {
                prop_assert!(
                    fast.needs().may_match(&s, &stats) || !re.is_match(&s),
                    "{:?} on {:?}", fast, s
                );
                if let Some(m) = fast.is_match(&s) {
                    prop_assert_eq!(m, re.is_match(&s), "{:?} on {:?}", fast, s);
                } else {
                    prop_assert!(!s.is_ascii());
                }
            }
        }

        #[test]
        fn contains_ignore_ascii_case_agrees_with_lowercase(s in text(), w in "[a-z]{1,3}") {
            prop_assert_eq!(
                contains_ignore_ascii_case(&s, &w),
                s.to_ascii_lowercase().contains(&w)
            );
        }

        /// A prefilter never rules out a string in which its rule finds
        /// something, nor its prefixes and suffixes (scrubbing runs rules
        /// on the parts between earlier redactions).
        #[test]
        fn prefilters_never_miss_a_match(s in text()) {
            let stats = TextStats::new(&s);
            let bounds: Vec<usize> = (0..=s.len()).filter(|i| s.is_char_boundary(*i)).collect();
            let parts = bounds.iter().map(|&i| &s[..i]).chain(bounds.iter().map(|&i| &s[i..]));
            let parts: Vec<&str> = parts.collect();
            for m in value_matchers() {
                if m.needs.may_match(&s, &stats) {
                    continue;
                }
                for part in &parts {
                    let mut found = Vec::new();
                    m.find(part, &mut found);
                    prop_assert!(
                        found.is_empty(),
                        "{:?} ruled out {:?} but finds {:?} in {:?}",
                        m.needs, s, found, part
                    );
                }
            }
        }
    }

    /// All needs, one bit each.
    const ALL: [Needs; 16] = [
        Needs::Anything,
        Needs::Ipv4,
        Needs::Ipv6,
        Needs::Creditcard,
        Needs::Iban,
        Needs::Imei,
        Needs::Mac,
        Needs::Uuid,
        Needs::Email,
        Needs::Usssn,
        Needs::Bearer,
        Needs::Userpath,
        Needs::Pemkey,
        Needs::Urlauth,
        Needs::PasswordKey,
        Needs::TokenKey,
    ];

    proptest! {
        /// `check_all` says for each wanted need what `may_match` says.
        #[test]
        fn check_all_agrees_with_may_match(s in text(), wanted in any::<u16>()) {
            let stats = TextStats::new(&s);
            let wanted = u32::from(wanted);
            let expected = ALL
                .iter()
                .filter(|n| wanted & n.bit() != 0 && n.may_match(&s, &stats))
                .fold(0, |bits, n| bits | n.bit());
            prop_assert_eq!(Needs::check_all(wanted, &s, &stats), expected);
        }
    }

    /// Counts add up across the 255-byte blocks of a long string, and stop
    /// at 255 instead of spilling into the next class.
    #[test]
    fn counts_of_long_strings() {
        let card_at_end = format!("{}4111 1111 1111 1111", "x".repeat(600));
        let meets = |s: &str| Needs::check_all(u32::MAX, s, &TextStats::new(s));
        assert_ne!(meets(&card_at_end) & Needs::Creditcard.bit(), 0);
        let split = format!("{}4111111{}11111111", "x".repeat(248), "y".repeat(300));
        assert_ne!(meets(&split) & Needs::Creditcard.bit(), 0);
        // 700 digits: the digit lane stays at 255; no dot, colon or dash
        // appears from an overflow.
        let digits = "7".repeat(700);
        let stats = TextStats::new(&digits);
        assert_eq!(stats.count(DIGIT), 255);
        assert_eq!(stats.count(DOT), 0);
        assert_eq!(meets(&digits) & (Needs::Ipv4.bit() | Needs::Ipv6.bit()), 0);
        let dashes = "-".repeat(600);
        assert_eq!(TextStats::new(&dashes).count(DASH), 255);
        assert_eq!(TextStats::new(&dashes).count(AT), 0);
        assert_eq!(meets(&"x".repeat(14)) & Needs::Creditcard.bit(), 0);
    }

    #[test]
    fn fast_keys() {
        let password = |s: &str| FastKey::Password.is_match(s);
        assert_eq!(password("db_password"), Some(true));
        assert_eq!(password("OTP"), Some(true));
        assert_eq!(password("otp_code"), Some(false));
        assert_eq!(password("token=1"), Some(true));
        assert_eq!(password("token 1=2"), Some(false));
        assert_eq!(password("my tokens: x"), Some(true));
        assert_eq!(password("user"), Some(false));
        assert_eq!(password("api\u{212a}ey"), None);
        assert_eq!(FastKey::Token.is_match("csrfToken"), Some(true));
    }
}
