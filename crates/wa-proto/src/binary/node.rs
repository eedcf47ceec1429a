//! The node tree: [`Node`], [`AttrValue`] and [`Content`].

use std::borrow::Cow;
use std::fmt;

use super::jid::Jid;

/// An attribute value: a string or a typed JID.
///
/// On the wire both are strings, but a JID has its own encodings (JID_PAIR, AD_JID, ...).
/// A server `from`/`to` must be [`AttrValue::Jid`] (`Jid::server()` is written as `fa 00 03`),
/// because the plain string `s.whatsapp.net` is written as the token `03`.
///
/// A [`AttrValue::Str`] is written with Baileys' string rules, so a string that looks like a
/// JID (`"5511999999999@s.whatsapp.net"`) is written as a JID too; decoding always yields
/// [`AttrValue::Jid`] for JID encodings and [`AttrValue::Str`] for everything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AttrValue {
    /// A string value.
    Str(Cow<'static, str>),
    /// A JID value.
    Jid(Jid),
}

impl AttrValue {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            AttrValue::Jid(_) => None,
        }
    }

    /// The JID, if this is a JID value.
    pub fn as_jid(&self) -> Option<&Jid> {
        match self {
            AttrValue::Jid(j) => Some(j),
            AttrValue::Str(_) => None,
        }
    }

    /// The JID: a JID value, or a string value that parses as a JID.
    pub fn to_jid(&self) -> Option<Jid> {
        match self {
            AttrValue::Jid(j) => Some(j.clone()),
            AttrValue::Str(s) if s.contains('@') => s.parse().ok(),
            AttrValue::Str(_) => None,
        }
    }

    /// The text form (a JID is formatted with its `Display`).
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            AttrValue::Str(s) => Cow::Borrowed(s),
            AttrValue::Jid(j) => Cow::Owned(j.to_string()),
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) => f.write_str(s),
            AttrValue::Jid(j) => j.fmt(f),
        }
    }
}

impl From<&'static str> for AttrValue {
    fn from(s: &'static str) -> Self {
        AttrValue::Str(Cow::Borrowed(s))
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(Cow::Owned(s))
    }
}

impl From<&String> for AttrValue {
    fn from(s: &String) -> Self {
        AttrValue::Str(Cow::Owned(s.clone()))
    }
}

impl From<Cow<'static, str>> for AttrValue {
    fn from(s: Cow<'static, str>) -> Self {
        AttrValue::Str(s)
    }
}

impl From<Jid> for AttrValue {
    fn from(j: Jid) -> Self {
        AttrValue::Jid(j)
    }
}

impl From<&Jid> for AttrValue {
    fn from(j: &Jid) -> Self {
        AttrValue::Jid(j.clone())
    }
}

impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Str(Cow::Borrowed(if b { "true" } else { "false" }))
    }
}

macro_rules! attr_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for AttrValue {
            fn from(n: $t) -> Self {
                AttrValue::Str(Cow::Owned(n.to_string()))
            }
        }
    )*};
}
attr_from_int!(u8, u16, u32, u64, usize, i8, i16, i32, i64);

/// The content of a node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Content {
    /// No content (the node's list size is odd).
    #[default]
    None,
    /// Child nodes. An empty vector is an explicit empty list (`00` on the wire).
    Nodes(Vec<Node>),
    /// Raw bytes, always written as BINARY_8/20/32. Decoding yields this for BINARY content.
    Bytes(Vec<u8>),
    /// A string, written with the string rules (token, packed, JID, raw). Decoding yields this
    /// for token and packed content.
    Str(Cow<'static, str>),
    /// A JID. Decoding yields this for JID content.
    Jid(Jid),
}

/// One node of the binary XML tree: a tag, ordered attributes and optional content.
///
/// ```
/// use wa_proto::binary::{Jid, Node};
/// let iq = Node::new("iq")
///     .attr("id", "1.2-3")
///     .attr("xmlns", "w:p")
///     .attr("type", "get")
///     .attr("to", Jid::server())
///     .children([Node::new("ping")]);
/// assert_eq!(iq.attr_str("type"), Some("get"));
/// assert_eq!(iq.attr_jid("to"), Some(Jid::server()));
/// assert!(iq.get_child("ping").is_some());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Node {
    /// The tag (element name); never empty on the wire.
    pub tag: Cow<'static, str>,
    /// Attributes in wire order. Keys are unique when built with [`Node::attr`].
    pub attrs: Vec<(Cow<'static, str>, AttrValue)>,
    /// The content.
    pub content: Content,
}

impl Node {
    /// A node with this tag, no attributes and no content.
    pub fn new(tag: impl Into<Cow<'static, str>>) -> Node {
        Node {
            tag: tag.into(),
            attrs: Vec::new(),
            content: Content::None,
        }
    }

    /// Sets an attribute (replacing an existing value of the same key, else appending).
    #[must_use]
    pub fn attr(mut self, key: impl Into<Cow<'static, str>>, value: impl Into<AttrValue>) -> Node {
        self.set_attr(key, value);
        self
    }

    /// Sets an attribute if `value` is `Some`.
    #[must_use]
    pub fn attr_opt<V: Into<AttrValue>>(
        mut self,
        key: impl Into<Cow<'static, str>>,
        value: Option<V>,
    ) -> Node {
        if let Some(v) = value {
            self.set_attr(key, v);
        }
        self
    }

    /// Sets the content to these children.
    #[must_use]
    pub fn children(mut self, children: impl IntoIterator<Item = Node>) -> Node {
        self.content = Content::Nodes(children.into_iter().collect());
        self
    }

    /// Appends one child (turning other content into a child list).
    #[must_use]
    pub fn child(mut self, child: Node) -> Node {
        self.push_child(child);
        self
    }

    /// Sets the content to raw bytes.
    #[must_use]
    pub fn bytes(mut self, bytes: impl Into<Vec<u8>>) -> Node {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// Sets the content to a string (written with the string rules).
    #[must_use]
    pub fn text(mut self, text: impl Into<Cow<'static, str>>) -> Node {
        self.content = Content::Str(text.into());
        self
    }

    /// Sets the content.
    #[must_use]
    pub fn content(mut self, content: Content) -> Node {
        self.content = content;
        self
    }

    /// Sets an attribute in place (replacing an existing value of the same key).
    pub fn set_attr(&mut self, key: impl Into<Cow<'static, str>>, value: impl Into<AttrValue>) {
        let key = key.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((key, value)),
        }
    }

    /// Removes an attribute, returning its value.
    pub fn remove_attr(&mut self, key: &str) -> Option<AttrValue> {
        let pos = self.attrs.iter().position(|(k, _)| k == key)?;
        Some(self.attrs.remove(pos).1)
    }

    /// Appends a child in place (other content is replaced by a child list).
    pub fn push_child(&mut self, child: Node) {
        match &mut self.content {
            Content::Nodes(v) => v.push(child),
            other => *other = Content::Nodes(vec![child]),
        }
    }

    /// The value of an attribute.
    pub fn get_attr(&self, key: &str) -> Option<&AttrValue> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// True if the attribute is present.
    pub fn has_attr(&self, key: &str) -> bool {
        self.get_attr(key).is_some()
    }

    /// The string value of an attribute (`None` if absent or if it is a JID value; see
    /// [`Node::attr_text`] and [`Node::attr_jid`]).
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.get_attr(key).and_then(AttrValue::as_str)
    }

    /// The text of an attribute, whatever its kind (a JID is formatted).
    pub fn attr_text(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get_attr(key).map(AttrValue::to_text)
    }

    /// The JID value of an attribute (a JID value, or a string that parses as a JID).
    pub fn attr_jid(&self, key: &str) -> Option<Jid> {
        self.get_attr(key).and_then(AttrValue::to_jid)
    }

    /// An attribute parsed as an unsigned decimal number.
    pub fn attr_u64(&self, key: &str) -> Option<u64> {
        self.attr_str(key).and_then(|s| s.parse().ok())
    }

    /// An attribute parsed as a signed decimal number.
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attr_str(key).and_then(|s| s.parse().ok())
    }

    /// An attribute that is `"true"` or `"false"`.
    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        match self.attr_str(key)? {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// The child nodes (an empty slice if the content is not a child list).
    pub fn get_children(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(v) => v,
            _ => &[],
        }
    }

    /// The child nodes, mutably, if the content is a child list.
    pub fn get_children_mut(&mut self) -> Option<&mut Vec<Node>> {
        match &mut self.content {
            Content::Nodes(v) => Some(v),
            _ => None,
        }
    }

    /// The first child with this tag.
    pub fn get_child(&self, tag: &str) -> Option<&Node> {
        self.get_children().iter().find(|n| n.tag == tag)
    }

    /// The first child with this tag, mutably.
    pub fn get_child_mut(&mut self, tag: &str) -> Option<&mut Node> {
        self.get_children_mut()?.iter_mut().find(|n| n.tag == tag)
    }

    /// All children with this tag, in order.
    pub fn children_by_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.get_children().iter().filter(move |n| n.tag == tag)
    }

    /// Follows a path of child tags (`node.get_child_by_path(&["list", "item"])`).
    pub fn get_child_by_path(&self, path: &[&str]) -> Option<&Node> {
        let mut cur = self;
        for tag in path {
            cur = cur.get_child(tag)?;
        }
        Some(cur)
    }

    /// The content as bytes: [`Content::Bytes`], or the UTF-8 of a [`Content::Str`] (a
    /// peer may token- or nibble-pack what is conceptually bytes).
    pub fn bytes_content(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            Content::Str(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The content as text: [`Content::Str`], or [`Content::Bytes`] that are valid UTF-8.
    pub fn text_content(&self) -> Option<&str> {
        match &self.content {
            Content::Str(s) => Some(s),
            Content::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The content as a JID: [`Content::Jid`], or text that parses as one.
    pub fn jid_content(&self) -> Option<Jid> {
        match &self.content {
            Content::Jid(j) => Some(j.clone()),
            _ => self.text_content()?.parse().ok(),
        }
    }
}

/// XML-like rendering for logs: `<iq id="1" to="@s.whatsapp.net"><ping/></iq>`. Byte content
/// is shown as hex (long content is cut).
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}", self.tag)?;
        for (k, v) in &self.attrs {
            write!(f, " {k}=\"{v}\"")?;
        }
        match &self.content {
            Content::None => return f.write_str("/>"),
            Content::Nodes(children) => {
                f.write_str(">")?;
                for c in children {
                    c.fmt(f)?;
                }
            }
            Content::Bytes(b) => {
                f.write_str("><!-- ")?;
                for byte in b.iter().take(64) {
                    write!(f, "{byte:02x}")?;
                }
                if b.len() > 64 {
                    write!(f, "... ({} bytes)", b.len())?;
                }
                f.write_str(" -->")?;
            }
            Content::Str(s) => write!(f, ">{s}")?,
            Content::Jid(j) => write!(f, ">{j}")?,
        }
        write!(f, "</{}>", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_accessors() {
        let mut n = Node::new("iq")
            .attr("id", "abc")
            .attr("count", 812u32)
            .attr("flag", true)
            .attr("to", Jid::server())
            .attr("id", String::from("def"))
            .attr_opt("absent", None::<&'static str>)
            .child(Node::new("a").bytes(vec![1, 2]))
            .child(Node::new("b").text("hi"))
            .child(Node::new("a").text("x"));
        assert_eq!(n.attrs.len(), 4);
        assert_eq!(n.attr_str("id"), Some("def"));
        assert_eq!(n.attr_u64("count"), Some(812));
        assert_eq!(n.attr_bool("flag"), Some(true));
        assert_eq!(n.attr_str("to"), None);
        assert_eq!(n.attr_text("to").as_deref(), Some("@s.whatsapp.net"));
        assert_eq!(n.attr_jid("to"), Some(Jid::server()));
        assert!(!n.has_attr("absent"));
        assert_eq!(n.children_by_tag("a").count(), 2);
        assert_eq!(
            n.get_child("a").and_then(Node::bytes_content),
            Some(&[1u8, 2][..])
        );
        assert_eq!(n.get_child("b").and_then(Node::text_content), Some("hi"));
        assert_eq!(
            n.get_child("b").and_then(Node::bytes_content),
            Some(&b"hi"[..])
        );
        assert!(n.get_child("c").is_none());
        n.get_child_mut("b").unwrap().set_attr("k", "v");
        assert_eq!(
            n.get_child_by_path(&["b"]).and_then(|b| b.attr_str("k")),
            Some("v")
        );
        assert_eq!(n.remove_attr("flag"), Some(AttrValue::from("true")));
        assert_eq!(
            n.to_string(),
            "<iq id=\"def\" count=\"812\" to=\"@s.whatsapp.net\"><a><!-- 0102 --></a><b k=\"v\">hi</b><a>x</a></iq>"
        );
    }

    #[test]
    fn jid_from_string_attribute_and_content() {
        let n = Node::new("x")
            .attr("from", "5511:2@s.whatsapp.net")
            .text("1@g.us");
        assert_eq!(n.attr_jid("from"), Some(Jid::user("5511").with_device(2)));
        assert_eq!(n.jid_content(), Some(Jid::group("1")));
        assert_eq!(Node::new("y").attr("v", "plain").attr_jid("v"), None);
    }
}
