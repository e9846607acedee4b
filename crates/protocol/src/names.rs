//! Closed sets of names (order kinds, task and replicate statuses...): one macro declares the
//! enum with its wire name per variant, and derives `ALL`, `as_str`, `Display` and a `FromStr`
//! whose error names what was expected.

/// Declares `enum $name` with the given attributes and, for each variant, its name on the wire,
/// in files and in databases; adds `ALL` (declaration order), `as_str`, `Display` and `FromStr`
/// (an unknown name is [`crate::ProtocolError::UnknownName`], with `$what` and `$expected` in its
/// message).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal, expected $expected:literal) {
            $($(#[$vmeta:meta])* $variant:ident $(= $code:literal)? => $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant $(= $code)?,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$(Self::$variant),+];

            /// The name on the wire, in files and in databases.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::ProtocolError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::ProtocolError::UnknownName {
                        what: $what,
                        name: s.to_string(),
                        expected: $expected,
                    })
            }
        }
    };
}
