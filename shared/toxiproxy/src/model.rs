//! The JSON shapes of the Toxiproxy API, and their mapping to noxious's types.

use noxious::toxic::{StreamDirection, Toxic, ToxicKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A proxy as Toxiproxy shows it: `{"name", "listen", "upstream", "enabled", "toxics": [...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProxySpec {
    pub name: String,
    /// Where the proxy listens; a port of 0 is replaced by the port actually bound.
    pub listen: String,
    pub upstream: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    #[serde(default)]
    pub toxics: Vec<ToxicSpec>,
}

fn enabled_by_default() -> bool {
    true
}

/// A toxic as Toxiproxy shows it:
/// `{"name", "type", "stream": "upstream"|"downstream", "toxicity": 0..1, "attributes": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToxicSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub stream: String,
    pub toxicity: f32,
    pub attributes: Map<String, Value>,
}

/// Why a toxic body was refused; the messages are Toxiproxy's own.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ToxicError {
    #[error("bad request body")]
    BadBody,
    #[error("invalid toxic type")]
    InvalidType,
    #[error("stream was invalid, can be either upstream or downstream")]
    InvalidStream,
    #[error("toxicity must be between 0 and 1")]
    InvalidToxicity,
    #[error("invalid attributes for toxic type {0}: {1}")]
    InvalidAttributes(String, String),
}

/// The attributes each toxic type has, with Toxiproxy's defaults (all numbers, all 0).
fn attribute_names(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "noop" => &[],
        "latency" => &["latency", "jitter"],
        "timeout" => &["timeout"],
        "bandwidth" => &["rate"],
        "slow_close" => &["delay"],
        "slicer" => &["average_size", "size_variation", "delay"],
        "limit_data" => &["bytes"],
        _ => return None,
    })
}

impl ToxicSpec {
    /// Reads a create body. Missing `stream` means downstream, missing `toxicity` 1.0, missing
    /// `name` `<type>_<stream>`, missing attributes 0: Toxiproxy's defaults.
    pub fn from_create_body(body: &Value) -> Result<Self, ToxicError> {
        let object = body.as_object().ok_or(ToxicError::BadBody)?;
        let kind = match object.get("type") {
            Some(Value::String(kind)) => kind.clone(),
            _ => return Err(ToxicError::InvalidType),
        };
        let stream = match object.get("stream") {
            None | Some(Value::Null) => "downstream".to_owned(),
            Some(Value::String(stream)) => stream.clone(),
            Some(_) => return Err(ToxicError::InvalidStream),
        };
        let name = match object.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            None | Some(Value::Null) | Some(Value::String(_)) => format!("{kind}_{stream}"),
            Some(_) => return Err(ToxicError::BadBody),
        };
        let spec = Self {
            name,
            kind,
            stream,
            toxicity: 1.0,
            attributes: Map::new(),
        };
        spec.merged(body)
    }

    /// Applies an update body (any of `toxicity`, `stream`, `attributes`) on top of this toxic;
    /// attributes not named keep their value. Returns the checked result.
    pub fn merged(&self, body: &Value) -> Result<Self, ToxicError> {
        let object = body.as_object().ok_or(ToxicError::BadBody)?;
        let mut next = self.clone();
        if let Some(toxicity) = object.get("toxicity").filter(|value| !value.is_null()) {
            next.toxicity = toxicity.as_f64().ok_or(ToxicError::BadBody)? as f32;
        }
        if let Some(stream) = object.get("stream").filter(|value| !value.is_null()) {
            next.stream = stream.as_str().ok_or(ToxicError::InvalidStream)?.to_owned();
        }
        match object.get("attributes") {
            None | Some(Value::Null) => {}
            Some(Value::Object(attributes)) => {
                for (key, value) in attributes {
                    next.attributes.insert(key.clone(), value.clone());
                }
            }
            Some(_) => return Err(ToxicError::BadBody),
        }
        let names = attribute_names(&next.kind).ok_or(ToxicError::InvalidType)?;
        for name in names {
            next.attributes.entry(*name).or_insert(Value::from(0));
        }
        next.to_noxious()?;
        Ok(next)
    }

    /// The noxious toxic this spec stands for.
    pub fn to_noxious(&self) -> Result<Toxic, ToxicError> {
        let direction = match self.stream.as_str() {
            "upstream" => StreamDirection::Upstream,
            "downstream" => StreamDirection::Downstream,
            _ => return Err(ToxicError::InvalidStream),
        };
        if !(0.0..=1.0).contains(&self.toxicity) {
            return Err(ToxicError::InvalidToxicity);
        }
        // noxious's `noop` is a unit variant: it takes no `attributes` key at all.
        let tagged = if self.attributes.is_empty() {
            serde_json::json!({ "type": self.kind })
        } else {
            serde_json::json!({ "type": self.kind, "attributes": self.attributes })
        };
        let kind: ToxicKind = serde_json::from_value(tagged).map_err(|error| {
            if attribute_names(&self.kind).is_none() {
                ToxicError::InvalidType
            } else {
                ToxicError::InvalidAttributes(self.kind.clone(), error.to_string())
            }
        })?;
        Ok(Toxic {
            kind,
            name: self.name.clone(),
            toxicity: self.toxicity,
            direction,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_minimal_latency_body_gets_toxiproxy_defaults() {
        let spec = ToxicSpec::from_create_body(
            &json!({"type": "latency", "attributes": {"latency": 300}}),
        )
        .unwrap();

        assert_eq!(spec.name, "latency_downstream");
        assert_eq!(spec.stream, "downstream");
        assert_eq!(spec.toxicity, 1.0);
        assert_eq!(spec.attributes["jitter"], json!(0));
        assert!(matches!(
            spec.to_noxious().unwrap().kind,
            ToxicKind::Latency {
                latency: 300,
                jitter: 0
            }
        ));
    }

    #[test]
    fn every_noxious_toxic_type_is_accepted() {
        for kind in [
            "noop",
            "latency",
            "timeout",
            "bandwidth",
            "slow_close",
            "slicer",
            "limit_data",
        ] {
            let spec = ToxicSpec::from_create_body(&json!({"type": kind})).unwrap();
            assert_eq!(spec.to_noxious().unwrap().kind.get_name(), kind);
        }
    }

    #[test]
    fn bad_bodies_are_named() {
        assert_eq!(
            ToxicSpec::from_create_body(&json!({"type": "earthquake"})),
            Err(ToxicError::InvalidType)
        );
        assert_eq!(
            ToxicSpec::from_create_body(&json!({"type": "latency", "stream": "sideways"})),
            Err(ToxicError::InvalidStream)
        );
        assert_eq!(
            ToxicSpec::from_create_body(&json!({"type": "latency", "toxicity": 2})),
            Err(ToxicError::InvalidToxicity)
        );
        assert!(matches!(
            ToxicSpec::from_create_body(
                &json!({"type": "latency", "attributes": {"latency": "slow"}})
            ),
            Err(ToxicError::InvalidAttributes(..))
        ));
        assert_eq!(
            ToxicSpec::from_create_body(&json!([1])),
            Err(ToxicError::BadBody)
        );
    }

    #[test]
    fn an_update_keeps_the_attributes_it_does_not_name() {
        let spec = ToxicSpec::from_create_body(
            &json!({"type": "latency", "attributes": {"latency": 300, "jitter": 10}}),
        )
        .unwrap();

        let updated = spec
            .merged(&json!({"attributes": {"latency": 900}}))
            .unwrap();

        assert_eq!(updated.attributes["latency"], json!(900));
        assert_eq!(updated.attributes["jitter"], json!(10));
    }
}
