//! A minimal XML reader for the tests, to read back `--output junit`: a prolog,
//! elements, attributes in double quotes, text, comments skipped, the five entities and
//! character references. It refuses what is not well-formed (a tag closed by another
//! name, a raw `<` or `&` in text or an attribute, an unknown entity, anything after the
//! root), so a document it reads is one a CI system's parser reads too.

#![allow(dead_code)]

/// An element: its name, attributes in order, child elements, and its text (the
/// concatenation of its own text nodes, unescaped).
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of attribute `name`, which must be there.
    pub fn get(&self, name: &str) -> &str {
        self.attr(name)
            .unwrap_or_else(|| panic!("<{}> has no attribute {name}", self.name))
    }

    /// The child elements named `name`.
    pub fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    /// The one child element named `name`, if there is one.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
}

/// Reads a document: its root element.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut r = Reader { s: doc, at: 0 };
    if r.rest().starts_with("<?xml") {
        r.skip_past("?>")?;
    }
    r.misc()?;
    let root = r.element()?;
    r.misc()?;
    if r.at != r.s.len() {
        return Err(format!("content after the root element at byte {}", r.at));
    }
    Ok(root)
}

struct Reader<'a> {
    s: &'a str,
    at: usize,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        &self.s[self.at..]
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        let near: String = self.rest().chars().take(30).collect();
        Err(format!("{what} at byte {} (near {near:?})", self.at))
    }

    fn skip_past(&mut self, end: &str) -> Result<(), String> {
        match self.rest().find(end) {
            Some(i) => {
                self.at += i + end.len();
                Ok(())
            }
            None => self.err(&format!("no closing {end}")),
        }
    }

    fn spaces(&mut self) {
        let n = self.rest().len() - self.rest().trim_start().len();
        self.at += n;
    }

    /// Whitespace and comments between elements.
    fn misc(&mut self) -> Result<(), String> {
        loop {
            self.spaces();
            if self.rest().starts_with("<!--") {
                self.skip_past("-->")?;
            } else {
                return Ok(());
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let n = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.')))
            .unwrap_or(self.rest().len());
        if n == 0 {
            return self.err("a name expected");
        }
        let name = self.rest()[..n].to_string();
        self.at += n;
        Ok(name)
    }

    fn element(&mut self) -> Result<Element, String> {
        if !self.rest().starts_with('<') {
            return self.err("an element expected");
        }
        self.at += 1;
        let name = self.name()?;
        let mut attrs = Vec::new();
        loop {
            self.spaces();
            if self.rest().starts_with("/>") {
                self.at += 2;
                return Ok(Element {
                    name,
                    attrs,
                    children: Vec::new(),
                    text: String::new(),
                });
            }
            if self.rest().starts_with('>') {
                self.at += 1;
                break;
            }
            let key = self.name()?;
            if attrs.iter().any(|(k, _)| *k == key) {
                return self.err(&format!("attribute {key} twice"));
            }
            self.spaces();
            if !self.rest().starts_with("=\"") {
                return self.err("=\" expected");
            }
            self.at += 2;
            let end = match self.rest().find('"') {
                Some(end) => end,
                None => return self.err("an unclosed attribute"),
            };
            let raw = &self.rest()[..end];
            if raw.contains('<') {
                return self.err("a raw < in an attribute");
            }
            let value = unescape(raw).map_err(|e| format!("attribute {key}: {e}"))?;
            self.at += end + 1;
            attrs.push((key, value));
        }
        let mut children = Vec::new();
        let mut text = String::new();
        loop {
            if self.rest().starts_with("</") {
                self.at += 2;
                let close = self.name()?;
                if close != name {
                    return self.err(&format!("<{name}> closed by </{close}>"));
                }
                self.spaces();
                if !self.rest().starts_with('>') {
                    return self.err("> expected");
                }
                self.at += 1;
                return Ok(Element {
                    name,
                    attrs,
                    children,
                    text,
                });
            } else if self.rest().starts_with("<!--") {
                self.skip_past("-->")?;
            } else if self.rest().starts_with("<![CDATA[") {
                self.at += 9;
                let end = match self.rest().find("]]>") {
                    Some(end) => end,
                    None => return self.err("an unclosed CDATA section"),
                };
                text.push_str(&self.rest()[..end]);
                self.at += end + 3;
            } else if self.rest().starts_with('<') {
                children.push(self.element()?);
            } else if self.rest().is_empty() {
                return self.err(&format!("<{name}> is not closed"));
            } else {
                let end = self.rest().find('<').unwrap_or(self.rest().len());
                let raw = &self.rest()[..end];
                if raw.contains("]]>") {
                    return self.err("]]> in text");
                }
                text.push_str(&unescape(raw)?);
                self.at += end;
            }
        }
    }
}

/// Text with its entities and character references replaced.
fn unescape(raw: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find(';')
            .ok_or_else(|| format!("a raw & in {raw:?}"))?;
        let entity = &rest[i + 1..i + end];
        let ch = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(dec) = entity.strip_prefix('#') {
                    dec.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("an unknown entity &{entity}; in {raw:?}"))?
            }
        };
        out.push(ch);
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_is_well_formed_and_refuses_the_rest() {
        let doc = parse(
            "<?xml version=\"1.0\"?>\n<a x=\"1 &amp; &#10;2\"><!-- c --><b/>t&lt;<b y=\"\"></b></a>\n",
        )
        .unwrap();
        assert_eq!(doc.get("x"), "1 & \n2");
        assert_eq!(doc.all("b").len(), 2);
        assert_eq!(doc.text, "t<");
        for bad in [
            "<a><b></a></b>",
            "<a>x & y</a>",
            "<a x=\"<\"/>",
            "<a>&nbsp;</a>",
            "<a/><b/>",
            "<a>",
            "<a x=\"1\" x=\"2\"/>",
        ] {
            assert!(parse(bad).is_err(), "{bad} was read");
        }
    }
}
