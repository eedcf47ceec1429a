//! Loader for the binary node vectors (shared by the tests and the bench via `#[path]`).
//! Attribute order matters (it is the wire order), so attributes are read with an
//! order-preserving map visitor instead of `serde_json::Map`.
#![allow(dead_code)]

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use wa_proto::binary::{AttrValue, Content, Node};

pub fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/binary")
}

pub fn load<T: for<'de> Deserialize<'de>>(file: &str) -> T {
    let text = std::fs::read_to_string(data_dir().join(file)).expect("read vector file");
    serde_json::from_str(&text).expect("parse vector file")
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum JAttr {
    Str(String),
    Repeat { text_repeat: String, len: usize },
}

impl JAttr {
    pub fn text(&self) -> String {
        match self {
            JAttr::Str(s) => s.clone(),
            JAttr::Repeat { text_repeat, len } => text_repeat.chars().cycle().take(*len).collect(),
        }
    }
}

#[derive(Debug, Default)]
pub struct Attrs(pub Vec<(String, JAttr)>);

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attrs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attribute map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Attrs, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, JAttr>()? {
                    v.push((k, val));
                }
                Ok(Attrs(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum JBytes {
    Hex { hex: String },
    Repeat { hex_repeat: String, len: usize },
}

impl JBytes {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            JBytes::Hex { hex } => unhex(hex),
            JBytes::Repeat { hex_repeat, len } => {
                unhex(hex_repeat).into_iter().cycle().take(*len).collect()
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum JContent {
    Nodes(Vec<JNode>),
    Text { text: String },
    Bytes(JBytes),
}

#[derive(Debug, Deserialize)]
pub struct JNode {
    pub tag: String,
    #[serde(default)]
    pub attrs: Attrs,
    pub content: Option<JContent>,
}

impl JNode {
    /// The node as given to Baileys' encoder: every attribute value is a string.
    pub fn to_node(&self) -> Node {
        Node {
            tag: Cow::Owned(self.tag.clone()),
            attrs: self
                .attrs
                .0
                .iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), AttrValue::from(v.text())))
                .collect(),
            content: match &self.content {
                None => Content::None,
                Some(JContent::Nodes(v)) => Content::Nodes(v.iter().map(JNode::to_node).collect()),
                Some(JContent::Text { text }) => Content::Str(Cow::Owned(text.clone())),
                Some(JContent::Bytes(b)) => Content::Bytes(b.bytes()),
            },
        }
    }

    /// Total size of the text and bytes in the tree (for reporting).
    pub fn count(&self) -> usize {
        1 + match &self.content {
            Some(JContent::Nodes(v)) => v.iter().map(JNode::count).sum(),
            _ => 0,
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct FramePart(pub JBytes);

#[derive(Debug, Deserialize)]
pub struct NodeCase {
    pub id: String,
    pub kind: String,
    #[serde(default)]
    pub tags: Vec<String>,
    pub node: JNode,
    pub frame: Option<String>,
    pub frame_parts: Option<Vec<JBytes>>,
    pub frame_len: Option<usize>,
    pub frame_sha256: Option<String>,
    pub decoded: Option<JNode>,
    pub reencode_equal: bool,
}

impl NodeCase {
    pub fn frame(&self) -> Vec<u8> {
        match (&self.frame, &self.frame_parts) {
            (Some(f), _) => unhex(f),
            (None, Some(parts)) => parts.iter().flat_map(JBytes::bytes).collect(),
            (None, None) => panic!("{}: no frame", self.id),
        }
    }

    pub fn expected_decoded(&self) -> &JNode {
        self.decoded.as_ref().unwrap_or(&self.node)
    }
}

#[derive(Debug, Deserialize)]
pub struct NodeFile {
    pub dictionary_version: u8,
    pub count: usize,
    pub cases: Vec<NodeCase>,
}

#[derive(Debug, Deserialize)]
pub struct CompressedCase {
    pub id: String,
    pub source_case: String,
    pub frame: String,
    pub inflated: String,
    pub decoded: JNode,
}

#[derive(Debug, Deserialize)]
pub struct CompressedFile {
    pub count: usize,
    pub cases: Vec<CompressedCase>,
}

#[derive(Debug, Deserialize)]
pub struct FailCase {
    pub id: String,
    pub reason: String,
    pub frame: String,
}

#[derive(Debug, Deserialize)]
pub struct FailFile {
    pub count: usize,
    pub cases: Vec<FailCase>,
}

#[derive(Debug, Deserialize)]
pub struct DecodeOnlyCase {
    pub id: String,
    pub description: String,
    pub frame: String,
    pub decoded: JNode,
}

#[derive(Debug, Deserialize)]
pub struct DecodeOnlyFile {
    pub count: usize,
    pub cases: Vec<DecodeOnlyCase>,
}

#[derive(Debug, Deserialize)]
pub struct TokenTable {
    pub count: usize,
    pub sha256: String,
    pub tokens: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct DoubleTable {
    pub dictionary: u8,
    pub tag_byte: u8,
    pub count: usize,
    pub sha256: String,
    pub tokens: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenFile {
    pub dictionary_version: u8,
    pub single_byte: TokenTable,
    pub double_byte: Vec<DoubleTable>,
}

/// Compares a decoded node with the expected JSON form; `Err` describes the first difference.
/// `jid_text` maps a decoded JID value to the text it is compared with.
pub fn compare(
    got: &Node,
    want: &JNode,
    path: &str,
    jid_text: &dyn Fn(&wa_proto::binary::Jid) -> String,
) -> Result<(), String> {
    let path = format!("{path}/{}", want.tag);
    if got.tag != want.tag.as_str() {
        return Err(format!("{path}: tag {:?} != {:?}", got.tag, want.tag));
    }
    if got.attrs.len() != want.attrs.0.len() {
        return Err(format!(
            "{path}: {} attrs != {}",
            got.attrs.len(),
            want.attrs.0.len()
        ));
    }
    for ((gk, gv), (wk, wv)) in got.attrs.iter().zip(&want.attrs.0) {
        let text = match gv {
            AttrValue::Str(s) => s.to_string(),
            AttrValue::Jid(j) => jid_text(j),
        };
        if gk != wk.as_str() || text != wv.text() {
            return Err(format!(
                "{path}: attr {gk}={text:?} != {wk}={:?}",
                wv.text()
            ));
        }
    }
    match (&got.content, &want.content) {
        (Content::None, None) => Ok(()),
        (Content::Nodes(g), Some(JContent::Nodes(w))) => {
            if g.len() != w.len() {
                return Err(format!("{path}: {} children != {}", g.len(), w.len()));
            }
            g.iter()
                .zip(w)
                .try_for_each(|(g, w)| compare(g, w, &path, jid_text))
        }
        (Content::Bytes(g), Some(JContent::Bytes(w))) if *g == w.bytes() => Ok(()),
        (Content::Str(g), Some(JContent::Text { text })) if g == text => Ok(()),
        (Content::Jid(j), Some(JContent::Text { text })) if jid_text(j) == *text => Ok(()),
        (g, w) => Err(format!("{path}: content {g:?} != {w:?}")),
    }
}
