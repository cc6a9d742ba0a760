//! Serde for [`ConfigBuilder`] (and through it [`Config`](super::Config)): a map only. The
//! derived impls (`remote = "Self"`) do the fields; these wrappers refuse a sequence, which
//! the derived visitor would take field by field in declaration order (`[7]` set
//! `failure_threshold`).

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigBuilder;

impl Serialize for ConfigBuilder {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The derived, inherent `serialize`.
        ConfigBuilder::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for ConfigBuilder {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapOnly)
    }
}

/// Accepts a map and hands it to the derived deserializer; any other shape is an
/// "invalid type" error.
struct MapOnly;

impl<'de> Visitor<'de> for MapOnly {
    type Value = ConfigBuilder;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of circuit breaker settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ConfigBuilder, A::Error> {
        // The derived, inherent `deserialize`.
        ConfigBuilder::deserialize(MapAccessDeserializer::new(map))
    }
}
