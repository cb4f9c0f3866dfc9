#if Gateway
import StrongroomJSON

/// The gateway's API as an OpenAPI 3.1 document, served at `/openapi.json`.
///
/// Kept beside the routes it describes: `scripts/test` runs schemathesis against a live gateway
/// with it, so a route, status or shape that drifts from this text fails CI.
enum OpenAPI {
    /// The document for a listener: its `security` names only the listener's own scheme.
    static func document(for authentication: GatewayConfiguration.Authentication) -> [UInt8] {
        let scheme = authentication == .mtls ? "mutualTLS" : "bearer"
        guard let parsed = try? JSONValue(parsing: Array(text.utf8)), let members = parsed.objectMembers else {
            return Array(text.utf8)
        }
        let security: JSONValue = .array([.object([.init(scheme, .array([]))])])
        var out: [UInt8] = []
        JSONValue.object(members.map { $0.key == "security" ? .init("security", security) : $0 }).write(to: &out)
        return out
    }

    /// Each path's segments (`nil` for a `{parameter}`) and its methods, upper-cased.
    static func paths() -> [(segments: [Substring?], methods: [String])] {
        guard let parsed = try? JSONValue(parsing: Array(text.utf8)), let paths = parsed["paths"]?.objectMembers else {
            return []
        }
        return paths.map { path in
            let segments = path.key.split(separator: "/").map { $0.hasPrefix("{") ? nil : $0 }
            let methods = (path.value.objectMembers ?? []).map { $0.key.uppercased() }.sorted()
            return (segments, methods)
        }
    }

    static let text = #"""
        {
         "openapi": "3.1.0",
         "info": {
          "title": "Strongroom gateway",
          "version": "1",
          "description": "Secure event streaming over HTTPS: field-level encryption, signed records, deny-by-default policy, an audit log. Every route except /health needs a client certificate or a bearer token (as the listener is configured); errors are RFC 9457 problem details that never carry a payload value."
         },
         "servers": [
          {
           "url": "/"
          }
         ],
         "security": [
          {
           "mutualTLS": []
          },
          {
           "bearer": []
          }
         ],
         "tags": [
          {
           "name": "records"
          },
          {
           "name": "topics"
          },
          {
           "name": "keys"
          },
          {
           "name": "data-subject requests"
          },
          {
           "name": "audit"
          },
          {
           "name": "policy"
          },
          {
           "name": "schema registry"
          },
          {
           "name": "operations"
          }
         ],
         "paths": {
          "/health": {
           "get": {
            "operationId": "health",
            "summary": "Liveness; the only route open without authentication.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "status"
                 ],
                 "properties": {
                  "status": {
                   "const": "ok"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             }
            },
            "tags": [
             "operations"
            ],
            "security": []
           }
          },
          "/ready": {
           "get": {
            "operationId": "ready",
            "summary": "Ready when the tenant's key provider, log and audit log answer.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "status"
                 ],
                 "properties": {
                  "status": {
                   "const": "ready"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "operations"
            ]
           }
          },
          "/metrics": {
           "get": {
            "operationId": "metrics",
            "summary": "The caller's tenant's Prometheus metrics (needs Describe on the cluster).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "text/plain; version=0.0.4": {
                "schema": {
                 "type": "string"
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "operations"
            ]
           }
          },
          "/openapi.json": {
           "get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object"
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "operations"
            ]
           }
          },
          "/v1/topics": {
           "get": {
            "operationId": "listTopics",
            "summary": "Topics the caller may describe.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "topics"
                 ],
                 "properties": {
                  "topics": {
                   "type": "array",
                   "items": {
                    "$ref": "#/components/schemas/TopicDescription"
                   }
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "topics"
            ]
           },
           "post": {
            "operationId": "createTopic",
            "summary": "Create a topic and its dead-letter topic NAME.dlq (needs Admin on the cluster; audited first).",
            "responses": {
             "201": {
              "description": "Created",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/TopicDescription"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "409": {
              "$ref": "#/components/responses/Problem409"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "topics"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/TopicCreate"
               }
              }
             }
            }
           }
          },
          "/v1/topics/{topic}": {
           "get": {
            "operationId": "describeTopic",
            "summary": "One topic's settings and partitions (needs Describe on it).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/TopicDescription"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "topics"
            ],
            "parameters": [
             {
              "name": "topic",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "pattern": "^[A-Za-z0-9._-]{1,249}$"
              }
             }
            ]
           }
          },
          "/v1/topics/{topic}/records": {
           "post": {
            "operationId": "produce",
            "summary": "Produce a batch: validated, scanned, encrypted, signed and appended; one result per record.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/ProduceResponse"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "422": {
              "$ref": "#/components/responses/Problem422"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "records"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/ProduceRequest"
               }
              }
             }
            },
            "parameters": [
             {
              "name": "topic",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "pattern": "^[A-Za-z0-9._-]{1,249}$"
              }
             }
            ]
           }
          },
          "/v1/topics/{topic}/consume": {
           "post": {
            "operationId": "consume",
            "summary": "Read as a consumer group for a declared purpose: each field decrypted or masked as the policy says.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/ConsumeResponse"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "409": {
              "$ref": "#/components/responses/Problem409"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "422": {
              "$ref": "#/components/responses/Problem422"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "description": "With `\"commit\": false` nothing is committed: the same records come again until `/commit` is called with the offsets in the answer's `commit`.",
            "tags": [
             "records"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/ConsumeRequest"
               }
              }
             }
            },
            "parameters": [
             {
              "name": "topic",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "pattern": "^[A-Za-z0-9._-]{1,249}$"
              }
             }
            ]
           }
          },
          "/v1/topics/{topic}/commit": {
           "post": {
            "operationId": "commit",
            "summary": "Commit offsets a `\"commit\": false` consume handed out.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "committed"
                 ],
                 "properties": {
                  "committed": {
                   "type": "integer",
                   "minimum": 1
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "409": {
              "$ref": "#/components/responses/Problem409"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "records"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/CommitRequest"
               }
              }
             }
            },
            "parameters": [
             {
              "name": "topic",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "pattern": "^[A-Za-z0-9._-]{1,249}$"
              }
             }
            ]
           }
          },
          "/v1/keys": {
           "get": {
            "operationId": "listKeys",
            "summary": "Key families, their versions and states (needs Admin on the cluster).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "array",
                 "items": {
                  "$ref": "#/components/schemas/KeyFamily"
                 }
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "keys"
            ]
           }
          },
          "/v1/keys/rotate": {
           "post": {
            "operationId": "rotateKey",
            "summary": "A new key version for one topic or subject; older versions still decrypt (Admin on the cluster).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "key"
                 ],
                 "properties": {
                  "key": {
                   "type": "string"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "410": {
              "$ref": "#/components/responses/Problem410"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "keys"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/KeyFamilySelector"
               }
              }
             }
            }
           }
          },
          "/v1/keys/erase": {
           "post": {
            "operationId": "eraseSubjectKeys",
            "summary": "Crypto-shred a subject's keys (Admin on the cluster; a DPO uses /v1/dsr/erase).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/ErasureReceipt"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "keys"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/SubjectRequest"
               }
              }
             }
            }
           }
          },
          "/v1/keys/rotate-kek": {
           "post": {
            "operationId": "rotateKEK",
            "summary": "A new key-encryption-key version; every data key is rewrapped (Admin on the cluster).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "newVersion",
                  "rewrapped"
                 ],
                 "properties": {
                  "newVersion": {
                   "type": "integer"
                  },
                  "rewrapped": {
                   "type": "integer"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "keys"
            ]
           }
          },
          "/v1/keys/finalize": {
           "post": {
            "operationId": "finalizeErasures",
            "summary": "Make erasures reach key-store backups too (Admin on the cluster).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "finalized",
                  "kekVersions"
                 ],
                 "properties": {
                  "finalized": {
                   "type": "array",
                   "items": {
                    "type": "string"
                   }
                  },
                  "kekVersions": {
                   "type": "array",
                   "items": {
                    "type": "integer"
                   }
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "keys"
            ]
           }
          },
          "/v1/dsr/access": {
           "post": {
            "operationId": "dsrAccess",
            "summary": "Where a data subject's records are (Article 15), decided and audited as a data-subject request.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Holdings"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "data-subject requests"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/SubjectRequest"
               }
              }
             }
            }
           }
          },
          "/v1/dsr/export": {
           "post": {
            "operationId": "dsrExport",
            "summary": "A data subject's events, decrypted for the data-subject-request purpose (Article 20).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Export"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "data-subject requests"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/SubjectRequest"
               }
              }
             }
            }
           }
          },
          "/v1/dsr/erase": {
           "post": {
            "operationId": "dsrErase",
            "summary": "Erase a data subject: every key version destroyed (Article 17).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/ErasureReceipt"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "data-subject requests"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/SubjectRequest"
               }
              }
             }
            }
           }
          },
          "/v1/dsr/rectify": {
           "post": {
            "operationId": "dsrRectify",
            "summary": "Append a corrected event of the subject through the secure produce path (Article 16).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Position"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "410": {
              "$ref": "#/components/responses/Problem410"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "422": {
              "$ref": "#/components/responses/Problem422"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "data-subject requests"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/RectifyRequest"
               }
              }
             }
            }
           }
          },
          "/v1/audit/verify": {
           "get": {
            "operationId": "verifyAudit",
            "summary": "Replay the whole audit log and check every signed checkpoint (Describe on the cluster).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "verified",
                  "size"
                 ],
                 "properties": {
                  "verified": {
                   "const": true
                  },
                  "size": {
                   "type": "integer",
                   "minimum": 0
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "409": {
              "$ref": "#/components/responses/Problem409"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "audit"
            ]
           }
          },
          "/v1/audit/checkpoint": {
           "get": {
            "operationId": "auditCheckpoint",
            "summary": "The newest signed checkpoint (a c2sp.org signed note).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "text/plain; charset=utf-8": {
                "schema": {
                 "type": "string"
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "audit"
            ]
           }
          },
          "/v1/audit/proofs/inclusion": {
           "get": {
            "operationId": "inclusionProof",
            "summary": "Entry INDEX is in the tree of SIZE entries (RFC 9162), verified before it is answered.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/InclusionProofAnswer"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "409": {
              "$ref": "#/components/responses/Problem409"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "audit"
            ],
            "parameters": [
             {
              "name": "index",
              "in": "query",
              "required": true,
              "schema": {
               "type": "integer",
               "minimum": 0,
               "maximum": 9223372036854775807
              },
              "description": "the entry"
             },
             {
              "name": "size",
              "in": "query",
              "required": false,
              "schema": {
               "type": "integer",
               "minimum": 0,
               "maximum": 9223372036854775807
              },
              "description": "the tree size (default: the whole log)"
             }
            ]
           }
          },
          "/v1/audit/proofs/consistency": {
           "get": {
            "operationId": "consistencyProof",
            "summary": "The tree of NEW entries extends the tree of OLD (RFC 9162), verified before it is answered.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/ConsistencyProofAnswer"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "404": {
              "$ref": "#/components/responses/Problem404"
             },
             "409": {
              "$ref": "#/components/responses/Problem409"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "audit"
            ],
            "parameters": [
             {
              "name": "old",
              "in": "query",
              "required": true,
              "schema": {
               "type": "integer",
               "minimum": 0,
               "maximum": 9223372036854775807
              },
              "description": "the older size"
             },
             {
              "name": "new",
              "in": "query",
              "required": true,
              "schema": {
               "type": "integer",
               "minimum": 0,
               "maximum": 9223372036854775807
              },
              "description": "the newer size"
             }
            ]
           }
          },
          "/v1/audit/entries": {
           "get": {
            "operationId": "auditEntries",
            "summary": "Entries from FROM for a SIEM: JSON Lines, CEF or RFC 5424 syslog.",
            "responses": {
             "200": {
              "description": "OK",
              "headers": {
               "Strongroom-Next-Index": {
                "description": "The index to ask for next (a cursor).",
                "required": true,
                "schema": {
                 "type": "string",
                 "pattern": "^[0-9]+$"
                }
               }
              },
              "content": {
               "application/jsonl": {
                "schema": {
                 "type": "string"
                }
               },
               "text/plain; charset=utf-8": {
                "schema": {
                 "type": "string"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "409": {
              "$ref": "#/components/responses/Problem409"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             },
             "503": {
              "$ref": "#/components/responses/Problem503"
             }
            },
            "tags": [
             "audit"
            ],
            "parameters": [
             {
              "name": "from",
              "in": "query",
              "required": false,
              "schema": {
               "type": "integer",
               "minimum": 0,
               "maximum": 9223372036854775807
              },
              "description": "first index (default 0)"
             },
             {
              "name": "limit",
              "in": "query",
              "required": false,
              "schema": {
               "type": "integer",
               "minimum": 1,
               "maximum": 10000
              },
              "description": "most entries (default 1000)"
             },
             {
              "name": "format",
              "in": "query",
              "required": false,
              "schema": {
               "type": "string",
               "enum": [
                "jsonl",
                "cef",
                "syslog"
               ]
              },
              "description": "default jsonl"
             }
            ]
           }
          },
          "/v1/policy/explain": {
           "post": {
            "operationId": "explainPolicy",
            "summary": "Which rules decide an action, and why (Describe on the cluster).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/json": {
                "schema": {
                 "$ref": "#/components/schemas/Explanation"
                }
               }
              }
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "policy"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/ExplainRequest"
               }
              }
             }
            }
           }
          },
          "/subjects": {
           "get": {
            "operationId": "registrySubjects",
            "summary": "Subjects the caller may describe.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "type": "array",
                 "items": {
                  "type": "string"
                 }
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ]
           }
          },
          "/subjects/{subject}/versions": {
           "get": {
            "operationId": "registryVersions",
            "summary": "A subject's versions.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "type": "array",
                 "items": {
                  "type": "integer",
                  "minimum": 1
                 }
                }
               }
              }
             },
             "403": {
              "$ref": "#/components/responses/Registry403"
             },
             "404": {
              "$ref": "#/components/responses/Registry404"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "parameters": [
             {
              "name": "subject",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "minLength": 1
              }
             }
            ]
           },
           "post": {
            "operationId": "registryRegister",
            "summary": "Register a JSON Schema (Alter on the subject; audited first).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "id"
                 ],
                 "properties": {
                  "id": {
                   "type": "integer"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "403": {
              "$ref": "#/components/responses/Registry403"
             },
             "409": {
              "$ref": "#/components/responses/Registry409"
             },
             "422": {
              "$ref": "#/components/responses/Registry422"
             },
             "503": {
              "$ref": "#/components/responses/Registry503"
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/RegistrySchemaRequest"
               }
              },
              "application/vnd.schemaregistry.v1+json": {
               "schema": {
                "$ref": "#/components/schemas/RegistrySchemaRequest"
               }
              }
             }
            },
            "parameters": [
             {
              "name": "subject",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "minLength": 1
              }
             }
            ]
           }
          },
          "/subjects/{subject}": {
           "post": {
            "operationId": "registryLookup",
            "summary": "Find the version of a subject that holds this schema.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "$ref": "#/components/schemas/RegisteredSchema"
                }
               }
              }
             },
             "403": {
              "$ref": "#/components/responses/Registry403"
             },
             "404": {
              "$ref": "#/components/responses/Registry404"
             },
             "422": {
              "$ref": "#/components/responses/Registry422"
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/RegistrySchemaRequest"
               }
              },
              "application/vnd.schemaregistry.v1+json": {
               "schema": {
                "$ref": "#/components/schemas/RegistrySchemaRequest"
               }
              }
             }
            },
            "parameters": [
             {
              "name": "subject",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "minLength": 1
              }
             }
            ]
           }
          },
          "/subjects/{subject}/versions/{version}": {
           "get": {
            "operationId": "registryVersion",
            "summary": "One version, or `latest`.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "$ref": "#/components/schemas/RegisteredSchema"
                }
               }
              }
             },
             "403": {
              "$ref": "#/components/responses/Registry403"
             },
             "404": {
              "$ref": "#/components/responses/Registry404"
             },
             "422": {
              "$ref": "#/components/responses/Registry422"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "parameters": [
             {
              "name": "subject",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "minLength": 1
              }
             },
             {
              "name": "version",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "pattern": "^(latest|-1|[1-9][0-9]{0,9})$"
              }
             }
            ]
           }
          },
          "/schemas/ids/{id}": {
           "get": {
            "operationId": "registrySchemaByID",
            "summary": "A schema by its global id.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "schema",
                  "schemaType"
                 ],
                 "properties": {
                  "schema": {
                   "type": "string"
                  },
                  "schemaType": {
                   "const": "JSON"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "404": {
              "$ref": "#/components/responses/Registry404"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "parameters": [
             {
              "name": "id",
              "in": "path",
              "required": true,
              "schema": {
               "type": "integer",
               "minimum": 1,
               "maximum": 2147483647
              }
             }
            ]
           }
          },
          "/config": {
           "get": {
            "operationId": "registryDefaultConfig",
            "summary": "The default compatibility level.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "$ref": "#/components/schemas/CompatibilityLevel"
                }
               }
              }
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "403": {
              "$ref": "#/components/responses/Problem403"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ]
           }
          },
          "/config/{subject}": {
           "get": {
            "operationId": "registryConfig",
            "summary": "A subject's compatibility level.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "$ref": "#/components/schemas/CompatibilityLevel"
                }
               }
              }
             },
             "403": {
              "$ref": "#/components/responses/Registry403"
             },
             "404": {
              "$ref": "#/components/responses/Registry404"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "parameters": [
             {
              "name": "subject",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "minLength": 1
              }
             }
            ]
           },
           "put": {
            "operationId": "registrySetConfig",
            "summary": "Set a subject's compatibility level (Alter on the subject; audited first).",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "compatibility"
                 ],
                 "properties": {
                  "compatibility": {
                   "$ref": "#/components/schemas/Compatibility"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "403": {
              "$ref": "#/components/responses/Registry403"
             },
             "404": {
              "$ref": "#/components/responses/Registry404"
             },
             "422": {
              "$ref": "#/components/responses/Registry422"
             },
             "503": {
              "$ref": "#/components/responses/Registry503"
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "type": "object",
                "required": [
                 "compatibility"
                ],
                "properties": {
                 "compatibility": {
                  "$ref": "#/components/schemas/Compatibility"
                 }
                },
                "additionalProperties": false
               }
              }
             }
            },
            "parameters": [
             {
              "name": "subject",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "minLength": 1
              }
             }
            ]
           }
          },
          "/compatibility/subjects/{subject}/versions/{version}": {
           "post": {
            "operationId": "registryCheck",
            "summary": "Whether a schema is compatible with the subject's history.",
            "responses": {
             "200": {
              "description": "OK",
              "content": {
               "application/vnd.schemaregistry.v1+json": {
                "schema": {
                 "type": "object",
                 "required": [
                  "is_compatible"
                 ],
                 "properties": {
                  "is_compatible": {
                   "type": "boolean"
                  }
                 },
                 "additionalProperties": false
                }
               }
              }
             },
             "403": {
              "$ref": "#/components/responses/Registry403"
             },
             "404": {
              "$ref": "#/components/responses/Registry404"
             },
             "422": {
              "$ref": "#/components/responses/Registry422"
             },
             "400": {
              "$ref": "#/components/responses/Problem400"
             },
             "401": {
              "$ref": "#/components/responses/Problem401"
             },
             "413": {
              "$ref": "#/components/responses/Problem413"
             },
             "429": {
              "$ref": "#/components/responses/Problem429"
             }
            },
            "tags": [
             "schema registry"
            ],
            "requestBody": {
             "required": true,
             "content": {
              "application/json": {
               "schema": {
                "$ref": "#/components/schemas/RegistrySchemaRequest"
               }
              },
              "application/vnd.schemaregistry.v1+json": {
               "schema": {
                "$ref": "#/components/schemas/RegistrySchemaRequest"
               }
              }
             }
            },
            "parameters": [
             {
              "name": "subject",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "minLength": 1
              }
             },
             {
              "name": "version",
              "in": "path",
              "required": true,
              "schema": {
               "type": "string",
               "pattern": "^(latest|-1|[1-9][0-9]{0,9})$"
              }
             }
            ]
           }
          }
         },
         "components": {
          "schemas": {
           "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details; never a value from the request.",
            "required": [
             "type",
             "title",
             "status",
             "detail",
             "instance",
             "correlationId"
            ],
            "properties": {
             "type": {
              "type": "string",
              "pattern": "^urn:strongroom:problem:"
             },
             "title": {
              "type": "string"
             },
             "status": {
              "type": "integer",
              "minimum": 400,
              "maximum": 599
             },
             "detail": {
              "type": "string"
             },
             "instance": {
              "type": "string"
             },
             "correlationId": {
              "type": "string",
              "pattern": "^[0-9a-f]{32}$"
             }
            },
            "additionalProperties": false
           },
           "RegistryError": {
            "type": "object",
            "required": [
             "error_code",
             "message"
            ],
            "properties": {
             "error_code": {
              "type": "integer"
             },
             "message": {
              "type": "string"
             }
            },
            "additionalProperties": false
           },
           "ProduceRequest": {
            "type": "object",
            "required": [
             "records"
            ],
            "properties": {
             "records": {
              "type": "array",
              "items": {
               "type": "object"
              },
              "description": "Events, each checked against the topic's schema."
             }
            },
            "additionalProperties": false
           },
           "ProduceResponse": {
            "type": "object",
            "required": [
             "results",
             "accepted",
             "refused"
            ],
            "properties": {
             "results": {
              "type": "array",
              "items": {
               "oneOf": [
                {
                 "$ref": "#/components/schemas/Position"
                },
                {
                 "type": "object",
                 "required": [
                  "error"
                 ],
                 "properties": {
                  "error": {
                   "type": "object",
                   "required": [
                    "kind",
                    "detail"
                   ],
                   "properties": {
                    "kind": {
                     "type": "string"
                    },
                    "detail": {
                     "type": "string"
                    }
                   },
                   "additionalProperties": false
                  }
                 },
                 "additionalProperties": false
                }
               ]
              }
             },
             "accepted": {
              "type": "integer",
              "minimum": 0
             },
             "refused": {
              "type": "integer",
              "minimum": 0
             }
            },
            "additionalProperties": false
           },
           "Position": {
            "type": "object",
            "required": [
             "partition",
             "offset"
            ],
            "properties": {
             "partition": {
              "type": "integer",
              "minimum": 0
             },
             "offset": {
              "type": "integer",
              "minimum": 0
             }
            },
            "additionalProperties": false
           },
           "ConsumeRequest": {
            "type": "object",
            "required": [
             "group"
            ],
            "properties": {
             "group": {
              "type": "string",
              "minLength": 1
             },
             "purpose": {
              "type": "string"
             },
             "maxRecords": {
              "type": "integer",
              "minimum": 1,
              "description": "At most the gateway's limits.maxConsumeRecords."
             },
             "partition": {
              "type": "integer",
              "minimum": 0,
              "maximum": 65535
             },
             "commit": {
              "type": "boolean",
              "default": true
             }
            },
            "additionalProperties": false
           },
           "ConsumeResponse": {
            "type": "object",
            "required": [
             "records"
            ],
            "properties": {
             "records": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "partition",
                "offset",
                "value"
               ],
               "properties": {
                "partition": {
                 "type": "integer"
                },
                "offset": {
                 "type": "integer"
                },
                "value": {
                 "type": "object"
                }
               },
               "additionalProperties": false
              }
             },
             "commit": {
              "type": "array",
              "description": "With commit false: what to send to /commit.",
              "items": {
               "$ref": "#/components/schemas/Position"
              }
             },
             "stopped": {
              "type": "object",
              "description": "A partition that failed after earlier ones answered.",
              "required": [
               "partition",
               "status",
               "title"
              ],
              "properties": {
               "partition": {
                "type": "integer"
               },
               "status": {
                "type": "integer"
               },
               "title": {
                "type": "string"
               }
              },
              "additionalProperties": false
             }
            },
            "additionalProperties": false
           },
           "CommitRequest": {
            "type": "object",
            "required": [
             "group",
             "offsets"
            ],
            "properties": {
             "group": {
              "type": "string",
              "minLength": 1
             },
             "purpose": {
              "type": "string"
             },
             "offsets": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "partition",
                "offset"
               ],
               "properties": {
                "partition": {
                 "type": "integer",
                 "minimum": 0,
                 "maximum": 65535
                },
                "offset": {
                 "type": "integer",
                 "minimum": 1
                }
               },
               "additionalProperties": false
              },
              "minItems": 1,
              "maxItems": 65536
             }
            },
            "additionalProperties": false
           },
           "TopicConfig": {
            "type": "object",
            "required": [
             "partitions",
             "encryptionRequired",
             "maxRecordBytes"
            ],
            "properties": {
             "partitions": {
              "type": "integer"
             },
             "retentionMs": {
              "type": "integer"
             },
             "retentionBytes": {
              "type": "integer"
             },
             "classification": {
              "type": "string"
             },
             "encryptionRequired": {
              "type": "boolean"
             },
             "maxRecordBytes": {
              "type": "integer"
             },
             "dlpAction": {
              "type": "string"
             }
            },
            "additionalProperties": false
           },
           "TopicDescription": {
            "type": "object",
            "required": [
             "name",
             "config",
             "partitions"
            ],
            "properties": {
             "name": {
              "type": "string"
             },
             "config": {
              "$ref": "#/components/schemas/TopicConfig"
             },
             "partitions": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "partition",
                "startOffset",
                "endOffset",
                "bytes"
               ],
               "properties": {
                "partition": {
                 "type": "integer"
                },
                "startOffset": {
                 "type": "integer"
                },
                "endOffset": {
                 "type": "integer"
                },
                "bytes": {
                 "type": "integer"
                }
               },
               "additionalProperties": false
              }
             }
            },
            "additionalProperties": false
           },
           "TopicCreate": {
            "type": "object",
            "required": [
             "name"
            ],
            "properties": {
             "name": {
              "type": "string",
              "pattern": "^[A-Za-z0-9._-]{1,249}$"
             },
             "partitions": {
              "type": "integer",
              "minimum": 1,
              "maximum": 4096,
              "default": 1
             },
             "retentionMs": {
              "type": "integer",
              "minimum": 1
             },
             "retentionBytes": {
              "type": "integer",
              "minimum": 1
             },
             "classification": {
              "type": "string",
              "enum": [
               "PUBLIC",
               "INTERNAL",
               "CONFIDENTIAL",
               "RESTRICTED"
              ]
             },
             "encryptionRequired": {
              "type": "boolean",
              "default": false
             },
             "maxRecordBytes": {
              "type": "integer",
              "minimum": 1,
              "maximum": 67108864,
              "default": 1048576
             },
             "dlp": {
              "type": "string",
              "enum": [
               "reject",
               "flag"
              ],
              "default": "reject"
             }
            },
            "additionalProperties": false
           },
           "KeyFamily": {
            "type": "object",
            "required": [
             "keyID",
             "scope",
             "versions"
            ],
            "properties": {
             "keyID": {
              "type": "string"
             },
             "scope": {
              "type": "string"
             },
             "label": {
              "type": "string"
             },
             "versions": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "version",
                "state",
                "kekVersion",
                "createdAt",
                "sealed"
               ],
               "properties": {
                "version": {
                 "type": "integer"
                },
                "state": {
                 "type": "string"
                },
                "kekVersion": {
                 "type": "integer"
                },
                "createdAt": {
                 "type": "integer"
                },
                "sealed": {
                 "type": "integer"
                }
               },
               "additionalProperties": false
              }
             }
            },
            "additionalProperties": false
           },
           "KeyFamilySelector": {
            "type": "object",
            "description": "Exactly one of topic or subject.",
            "oneOf": [
             {
              "type": "object",
              "required": [
               "topic"
              ],
              "properties": {
               "topic": {
                "type": "string",
                "minLength": 1
               }
              },
              "additionalProperties": false
             },
             {
              "type": "object",
              "required": [
               "subject"
              ],
              "properties": {
               "subject": {
                "type": "string",
                "minLength": 1
               }
              },
              "additionalProperties": false
             }
            ]
           },
           "SubjectRequest": {
            "type": "object",
            "required": [
             "subject"
            ],
            "properties": {
             "subject": {
              "type": "string",
              "minLength": 1
             }
            },
            "additionalProperties": false
           },
           "RectifyRequest": {
            "type": "object",
            "required": [
             "subject",
             "topic",
             "event"
            ],
            "properties": {
             "subject": {
              "type": "string",
              "minLength": 1
             },
             "topic": {
              "type": "string",
              "minLength": 1
             },
             "event": {
              "type": "object",
              "description": "The full corrected event; it must name the same subject."
             }
            },
            "additionalProperties": false
           },
           "ErasureReceipt": {
            "type": "object",
            "required": [
             "keyID",
             "erasedAt",
             "versionsDeleted",
             "alreadyErased"
            ],
            "properties": {
             "keyID": {
              "type": "string"
             },
             "erasedAt": {
              "type": "integer"
             },
             "versionsDeleted": {
              "type": "integer",
              "minimum": 0
             },
             "alreadyErased": {
              "type": "boolean"
             }
            },
            "additionalProperties": false
           },
           "Holdings": {
            "type": "object",
            "required": [
             "subjectKey",
             "erased",
             "records",
             "count"
            ],
            "properties": {
             "subjectKey": {
              "type": "string"
             },
             "erased": {
              "type": "boolean"
             },
             "records": {
              "type": "object",
              "description": "topic → partition → offsets",
              "additionalProperties": {
               "type": "object",
               "additionalProperties": {
                "type": "array",
                "items": {
                 "type": "integer"
                }
               }
              }
             },
             "count": {
              "type": "integer",
              "minimum": 0
             },
             "unreadable": {
              "type": "array",
              "items": {
               "$ref": "#/components/schemas/Unreadable"
              }
             }
            },
            "additionalProperties": false
           },
           "Unreadable": {
            "type": "object",
            "required": [
             "topic",
             "partition",
             "offset",
             "reason"
            ],
            "properties": {
             "topic": {
              "type": "string"
             },
             "partition": {
              "type": "integer"
             },
             "offset": {
              "type": "integer"
             },
             "reason": {
              "type": "string"
             }
            },
            "additionalProperties": false
           },
           "Export": {
            "type": "object",
            "required": [
             "subjectKey",
             "exportedAt",
             "events",
             "unreadable"
            ],
            "properties": {
             "subjectKey": {
              "type": "string"
             },
             "exportedAt": {
              "type": "string"
             },
             "events": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "topic",
                "partition",
                "offset",
                "event"
               ],
               "properties": {
                "topic": {
                 "type": "string"
                },
                "partition": {
                 "type": "integer"
                },
                "offset": {
                 "type": "integer"
                },
                "event": {
                 "type": "object"
                }
               },
               "additionalProperties": false
              }
             },
             "unreadable": {
              "type": "array",
              "items": {
               "$ref": "#/components/schemas/Unreadable"
              }
             }
            },
            "additionalProperties": false
           },
           "InclusionProofAnswer": {
            "type": "object",
            "required": [
             "proof",
             "verified",
             "signedCheckpoint"
            ],
            "properties": {
             "proof": {
              "type": "object",
              "required": [
               "index",
               "leafHash",
               "path",
               "root",
               "size"
              ],
              "properties": {
               "index": {
                "type": "integer"
               },
               "leafHash": {
                "$ref": "#/components/schemas/Hash"
               },
               "path": {
                "type": "array",
                "items": {
                 "$ref": "#/components/schemas/Hash"
                }
               },
               "root": {
                "$ref": "#/components/schemas/Hash"
               },
               "size": {
                "type": "integer"
               }
              },
              "additionalProperties": false
             },
             "verified": {
              "const": true
             },
             "signedCheckpoint": {
              "type": "boolean",
              "description": "Whether a signed checkpoint covers the root."
             }
            },
            "additionalProperties": false
           },
           "ConsistencyProofAnswer": {
            "type": "object",
            "required": [
             "proof",
             "verified",
             "signedCheckpoint"
            ],
            "properties": {
             "proof": {
              "type": "object",
              "required": [
               "oldSize",
               "newSize",
               "oldRoot",
               "newRoot",
               "path"
              ],
              "properties": {
               "oldSize": {
                "type": "integer"
               },
               "newSize": {
                "type": "integer"
               },
               "oldRoot": {
                "$ref": "#/components/schemas/Hash"
               },
               "newRoot": {
                "$ref": "#/components/schemas/Hash"
               },
               "path": {
                "type": "array",
                "items": {
                 "$ref": "#/components/schemas/Hash"
                }
               }
              },
              "additionalProperties": false
             },
             "verified": {
              "const": true
             },
             "signedCheckpoint": {
              "type": "boolean",
              "description": "Whether signed checkpoints cover both roots."
             }
            },
            "additionalProperties": false
           },
           "Hash": {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$"
           },
           "ExplainRequest": {
            "type": "object",
            "required": [
             "principal",
             "action",
             "resource"
            ],
            "properties": {
             "principal": {
              "type": "string"
             },
             "action": {
              "type": "string",
              "enum": [
               "Produce",
               "Consume",
               "Describe",
               "Decrypt",
               "Alter",
               "Erase",
               "Admin"
              ]
             },
             "resource": {
              "type": "string",
              "description": "cluster, topic:NAME, group:NAME, subject:NAME, key:NAME or field:TOPIC/POINTER"
             },
             "purpose": {
              "type": "string"
             }
            },
            "additionalProperties": false
           },
           "Explanation": {
            "type": "object",
            "required": [
             "allowed",
             "reason",
             "rules"
            ],
            "properties": {
             "allowed": {
              "type": "boolean"
             },
             "reason": {
              "type": "string"
             },
             "rules": {
              "type": "array",
              "items": {
               "type": "object",
               "required": [
                "rule",
                "effect",
                "applied",
                "detail"
               ],
               "properties": {
                "rule": {
                 "type": "string"
                },
                "effect": {
                 "type": "string",
                 "enum": [
                  "allow",
                  "deny"
                 ]
                },
                "applied": {
                 "type": "boolean"
                },
                "detail": {
                 "type": "string"
                }
               },
               "additionalProperties": false
              }
             }
            },
            "additionalProperties": false
           },
           "RegistrySchemaRequest": {
            "type": "object",
            "required": [
             "schema"
            ],
            "properties": {
             "schema": {
              "type": "string",
              "description": "A JSON Schema, as text."
             },
             "schemaType": {
              "const": "JSON"
             },
             "references": {
              "type": [
               "array",
               "null"
              ],
              "maxItems": 0
             },
             "metadata": {
              "type": "null"
             },
             "ruleSet": {
              "type": "null"
             }
            },
            "additionalProperties": false
           },
           "RegisteredSchema": {
            "type": "object",
            "required": [
             "subject",
             "version",
             "id",
             "schemaType",
             "schema"
            ],
            "properties": {
             "subject": {
              "type": "string"
             },
             "version": {
              "type": "integer"
             },
             "id": {
              "type": "integer"
             },
             "schemaType": {
              "const": "JSON"
             },
             "schema": {
              "type": "string"
             }
            },
            "additionalProperties": false
           },
           "Compatibility": {
            "type": "string",
            "enum": [
             "NONE",
             "BACKWARD",
             "BACKWARD_TRANSITIVE",
             "FORWARD",
             "FORWARD_TRANSITIVE",
             "FULL",
             "FULL_TRANSITIVE"
            ]
           },
           "CompatibilityLevel": {
            "type": "object",
            "required": [
             "compatibilityLevel"
            ],
            "properties": {
             "compatibilityLevel": {
              "$ref": "#/components/schemas/Compatibility"
             }
            },
            "additionalProperties": false
           }
          },
          "responses": {
           "Problem400": {
            "description": "Bad request",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem401": {
            "description": "Not authenticated",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem403": {
            "description": "Denied",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem404": {
            "description": "Not found",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem409": {
            "description": "Conflict",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem410": {
            "description": "Erased or retired key",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem413": {
            "description": "Too large",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem422": {
            "description": "Refused by the pipeline",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            }
           },
           "Problem429": {
            "description": "Rate limited",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            },
            "headers": {
             "Retry-After": {
              "schema": {
               "type": "string",
               "pattern": "^[0-9]+$"
              }
             }
            }
           },
           "Problem503": {
            "description": "Unavailable",
            "content": {
             "application/problem+json": {
              "schema": {
               "$ref": "#/components/schemas/Problem"
              }
             }
            },
            "headers": {
             "Retry-After": {
              "schema": {
               "type": "string",
               "pattern": "^[0-9]+$"
              }
             }
            }
           },
           "Registry403": {
            "description": "Schema Registry error",
            "content": {
             "application/vnd.schemaregistry.v1+json": {
              "schema": {
               "$ref": "#/components/schemas/RegistryError"
              }
             }
            }
           },
           "Registry404": {
            "description": "Schema Registry error",
            "content": {
             "application/vnd.schemaregistry.v1+json": {
              "schema": {
               "$ref": "#/components/schemas/RegistryError"
              }
             }
            }
           },
           "Registry409": {
            "description": "Schema Registry error",
            "content": {
             "application/vnd.schemaregistry.v1+json": {
              "schema": {
               "$ref": "#/components/schemas/RegistryError"
              }
             }
            }
           },
           "Registry422": {
            "description": "Schema Registry error",
            "content": {
             "application/vnd.schemaregistry.v1+json": {
              "schema": {
               "$ref": "#/components/schemas/RegistryError"
              }
             }
            }
           },
           "Registry503": {
            "description": "Schema Registry error",
            "content": {
             "application/vnd.schemaregistry.v1+json": {
              "schema": {
               "$ref": "#/components/schemas/RegistryError"
              }
             }
            }
           }
          },
          "securitySchemes": {
           "mutualTLS": {
            "type": "mutualTLS",
            "description": "TLS 1.3 client certificate; its subject DN is mapped to a principal by principalMappingRules."
           },
           "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An OIDC token (RS256, ES256 or EdDSA) from the configured issuer, for the configured audience."
           }
          }
         }
        }
        """#
}
#endif
