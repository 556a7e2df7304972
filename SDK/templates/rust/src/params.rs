//! Reads one top-level member of a JSON object (the task's parameters, or its state), exactly as
//! SDK/include/patchbay/params.h does in C: strings unescaped (\uXXXX and surrogate pairs as UTF-8, a
//! lone surrogate as U+FFFD), numbers, booleans and null as written, a nested object or array refused.
//! No crate needed. Both readers are held to the same cases (Tests/Fixtures/params-cases.tsv).

/// What `param` found.
#[derive(Debug, PartialEq, Eq)]
pub enum Param {
    /// The member's value: a string's text, or a number, boolean or null as written.
    Found(String),
    /// No such member.
    Absent,
    /// The text is not a JSON object.
    Malformed,
    /// The member is an object or an array (read those with a JSON library of your choice).
    NotScalar,
}

#[cfg(test)]
impl Param {
    /// The code params.h returns for the same case (1, 0, -1, -3).
    pub fn code(&self) -> i32 {
        match self {
            Param::Found(_) => 1,
            Param::Absent => 0,
            Param::Malformed => -1,
            Param::NotScalar => -3,
        }
    }
}

/// The top-level member `key` of the JSON object `json`.
pub fn param(json: &str, key: &str) -> Param {
    let mut r = Reader { bytes: json.as_bytes(), at: 0 };
    r.skip_ws();
    if !r.eat(b'{') {
        return Param::Malformed;
    }
    r.skip_ws();
    if r.eat(b'}') {
        return Param::Absent;
    }
    loop {
        let Some(name) = r.string() else { return Param::Malformed };
        r.skip_ws();
        if !r.eat(b':') {
            return Param::Malformed;
        }
        r.skip_ws();
        if name == key {
            return match r.peek() {
                Some(b'"') => r.string().map(Param::Found).unwrap_or(Param::Malformed),
                Some(b'{') | Some(b'[') => Param::NotScalar,
                _ => {
                    let start = r.at;
                    if !r.skip_value() {
                        return Param::Malformed;
                    }
                    Param::Found(String::from_utf8_lossy(&r.bytes[start..r.at]).into_owned())
                }
            };
        }
        if !r.skip_value() {
            return Param::Malformed;
        }
        r.skip_ws();
        if r.eat(b',') {
            r.skip_ws();
            continue;
        }
        return if r.eat(b'}') { Param::Absent } else { Param::Malformed };
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let text = std::str::from_utf8(digits).ok()?;
        let value = u32::from_str_radix(text, 16).ok()?;
        self.at += 4;
        Some(value)
    }

    /// A string at the current position (its opening quote), unescaped.
    fn string(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let byte = self.peek()?;
            self.at += 1;
            match byte {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    let escape = self.peek()?;
                    self.at += 1;
                    match escape {
                        b'n' => out.push(b'\n'),
                        b't' => out.push(b'\t'),
                        b'r' => out.push(b'\r'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'u' => {
                            let mut value = self.hex4()?;
                            if (0xD800..=0xDBFF).contains(&value) && self.bytes.get(self.at..self.at + 2) == Some(b"\\u") {
                                let saved = self.at;
                                self.at += 2;
                                match self.hex4() {
                                    Some(low) if (0xDC00..=0xDFFF).contains(&low) => {
                                        value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                                    }
                                    _ => self.at = saved,
                                }
                            }
                            let c = char::from_u32(value).unwrap_or('\u{FFFD}');  // a lone surrogate is not text
                            let mut buffer = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                        }
                        other => out.push(other),  // \" \\ \/
                    }
                }
                other => out.push(other),
            }
        }
    }

    /// Skips any value; false if it is malformed.
    fn skip_value(&mut self) -> bool {
        self.skip_ws();
        match self.peek() {
            None => false,
            Some(b'"') => self.string().is_some(),
            Some(b'{') | Some(b'[') => {
                let mut depth = 0;
                while let Some(byte) = self.peek() {
                    match byte {
                        b'"' => {
                            if self.string().is_none() {
                                return false;
                            }
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                return true;
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
                false
            }
            Some(_) => {
                while !matches!(self.peek(), None | Some(b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')) {
                    self.at += 1;
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_inside_another_value_is_not_a_member() {
        assert_eq!(param(r#"{"prefix":"{\"count\":5}","count":2}"#, "count"), Param::Found("2".into()));
        assert_eq!(param(r#"{"prefix":{"count":5}}"#, "count"), Param::Absent);
    }

    #[test]
    fn escapes_and_unicode_unescape() {
        assert_eq!(param(r#"{"say":"say \"hi\""}"#, "say"), Param::Found("say \"hi\"".into()));
        assert_eq!(param(r#"{"e":"\ud83d\ude00"}"#, "e"), Param::Found("\u{1F600}".into()));
    }

    /// The cases params.h is held to, when the test suite names their file (PATCHBAY_PARAMS_CASES).
    #[test]
    fn the_shared_cases() {
        let Ok(path) = std::env::var("PATCHBAY_PARAMS_CASES") else { return };
        let text = std::fs::read_to_string(&path).expect("the shared cases file");
        for line in text.lines().filter(|line| !line.starts_with('#') && !line.is_empty()) {
            let fields: Vec<&str> = line.split('\t').collect();
            let found = param(fields[1], fields[0]);
            let got = match &found {
                Param::Found(value) => format!("1 {}", value.bytes().map(|b| format!("{:02x}", b)).collect::<String>()),
                other => other.code().to_string(),
            };
            assert_eq!(got, fields[2], "case: {}", line);
        }
    }
}
