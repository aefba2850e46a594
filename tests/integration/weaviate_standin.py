"""A small in-process stand-in for a Weaviate server, for testing what the unmodified weaviate-client sends.

It speaks the two protocols weaviate-client v4 uses: REST (`/v1/meta`, readiness, schema) over a stdlib
HTTP server, and gRPC (`Health/Check`, `BatchObjects`, `Search`, `BatchDelete`, `Aggregate`) with the
generated modules that ship inside the weaviate-client package. It keeps objects in memory, records
every request, and answers with simple exact rules so replies can be decoded:

- vector search: exact cosine distance over the named vector (no HNSW, so no approximation);
- BM25: a naive count of query terms in the searched properties, NOT Okapi BM25;
- filters: direct evaluation (equal, comparisons, contains_any/all/none, and/or/not).

So it can check requests and decoding, never ranking quality, BM25 scores, HNSW recall or the real
server's defaults, or its validation beyond the few rules it mimics (class names, index flags, unknown
properties, named-vector names and lengths).
"""

from __future__ import annotations

import json
import math
import re
import struct
import threading
import time
import uuid as uuid_lib
from concurrent import futures
from copy import deepcopy
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import numpy as np
from google.protobuf.json_format import MessageToDict
from weaviate import __version__ as CLIENT_VERSION
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    weaviate_pb2_grpc,
)

F = base_pb2.Filters
TEXT_TYPES = ("text", "text[]")

# What a real server fills in when a create request leaves it out (values of Weaviate 1.2x/1.3x).
HNSW_DEFAULTS: dict[str, Any] = {
    "skip": False,
    "cleanupIntervalSeconds": 300,
    "maxConnections": 32,
    "efConstruction": 128,
    "ef": -1,
    "dynamicEfMin": 100,
    "dynamicEfMax": 500,
    "dynamicEfFactor": 8,
    "vectorCacheMaxObjects": 1_000_000_000_000,
    "flatSearchCutoff": 40000,
    "distance": "cosine",
    "filterStrategy": "sweeping",
    "pq": {"enabled": False},
    "bq": {"enabled": False},
    "sq": {"enabled": False},
    "rq": {"enabled": False},
    "multivector": {"enabled": False},
}
CLASS_DEFAULTS: dict[str, Any] = {
    "invertedIndexConfig": {
        "bm25": {"b": 0.75, "k1": 1.2},
        "cleanupIntervalSeconds": 60,
        "stopwords": {"preset": "en", "additions": None, "removals": None},
        "usingBlockMaxWAND": True,
    },
    "multiTenancyConfig": {"enabled": False, "autoTenantCreation": False, "autoTenantActivation": False},
    "replicationConfig": {"factor": 1, "asyncEnabled": False, "deletionStrategy": "NoAutomatedResolution"},
    "shardingConfig": {
        "virtualPerPhysical": 128,
        "desiredCount": 1,
        "actualCount": 1,
        "desiredVirtualCount": 128,
        "actualVirtualCount": 128,
        "key": "_id",
        "strategy": "hash",
        "function": "murmur3",
    },
}


@dataclass
class Recorded:
    """One request as received: REST (`method`, `path`, JSON `body`) or gRPC (`method` = RPC name, message)."""

    protocol: str
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StoredObject:
    uuid: str
    properties: dict[str, Any]
    vectors: dict[str, np.ndarray]


class WeaviateStandIn:
    """Start with `with WeaviateStandIn() as server:`; `server.http_url` / `server.grpc_port` to connect."""

    def __init__(self, *, version: str = "1.32.0", api_key: str | None = None) -> None:
        self.version = version
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.schemas: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, StoredObject]] = {}
        self.reject: dict[str, str] = {}  # uuid -> error message the next BatchObjects reports for it
        self.max_deletes_per_request = 10_000  # QUERY_MAXIMUM_RESULTS of a real server
        self.max_groups: int | None = None  # cap on aggregate groups, to test callers that must not trust it
        self._dims: dict[tuple[str, str], int] = {}
        self._lock = threading.RLock()
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> WeaviateStandIn:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(self))
        threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="weaviate-standin-rest", daemon=True
        ).start()
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(_Servicer(self), self._grpc)
        health = grpc.unary_unary_rpc_method_handler(
            self._health,
            request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
            response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
        )
        self._grpc.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("grpc.health.v1.Health", {"Check": health}),)
        )
        self.grpc_port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=None)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    def __enter__(self) -> WeaviateStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def http_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    @property
    def pypi_url(self) -> str:
        """Point `weaviate.connect.v4.PYPI_PACKAGE_URL` here so connecting never leaves the machine."""
        return f"{self.http_url}/pypi/weaviate-client/json"

    # -- what tests inspect ----------------------------------------------------------------------

    def calls(self, method: str, protocol: str = "grpc") -> list[Any]:
        """Bodies of the recorded requests with this RPC name (gRPC) or `METHOD /path` (REST)."""
        with self._lock:
            if protocol == "grpc":
                return [r.body for r in self.requests if r.protocol == "grpc" and r.method == method]
            return [r.body for r in self.requests if r.protocol == "rest" and f"{r.method} {r.path}" == method]

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def _record(self, protocol: str, method: str, path: str, body: Any, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(Recorded(protocol, method, path, body, headers))

    # -- REST ------------------------------------------------------------------------------------

    def handle_rest(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if path == "/v1/meta":
            return 200, {
                "hostname": "http://[::]:8080",
                "version": self.version,
                "modules": {},
                "grpcMaxMessageSize": 104858000,
            }
        if path == "/v1/.well-known/ready" or path == "/v1/.well-known/live":
            return 200, None
        if path == "/pypi/weaviate-client/json":
            return 200, {"info": {"version": CLIENT_VERSION}}
        with self._lock:
            if path == "/v1/schema" and method == "GET":
                return 200, {"classes": list(self.schemas.values())}
            if path == "/v1/schema" and method == "POST":
                return self._create_class(body)
            match = re.fullmatch(r"/v1/schema/([^/]+)", path)
            if match:
                name = match.group(1)
                if method == "GET":
                    return (200, self.schemas[name]) if name in self.schemas else (404, None)
                if method == "DELETE":
                    self.schemas.pop(name, None)
                    self.objects.pop(name, None)
                    return 200, None
        return 404, {"error": [{"message": f"stand-in does not serve {method} {path}"}]}

    def _create_class(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = body.get("class", "")
        if not re.fullmatch(r"[A-Z][_0-9A-Za-z]*", name):
            return 422, {"error": [{"message": f"'{name}' is not a valid class name"}]}
        if name in self.schemas:
            return 422, {"error": [{"message": f"class name {name} already exists"}]}
        cls = deepcopy(body)
        for key, default in CLASS_DEFAULTS.items():
            cls[key] = {**deepcopy(default), **cls.get(key, {})}
        for prop in cls.get("properties", []):
            data_type = prop["dataType"][0]
            if data_type not in (
                "text",
                "text[]",
                "number",
                "number[]",
                "int",
                "int[]",
                "boolean",
                "boolean[]",
                "date",
                "uuid",
                "blob",
            ):
                return 422, {"error": [{"message": f"property {prop['name']!r}: unknown data type {data_type!r}"}]}
            # the real server's rules for index flags (usecases/schema validation)
            if prop.get("indexSearchable") and data_type not in TEXT_TYPES:
                return 422, {
                    "error": [{"message": "`indexSearchable` is not allowed for other than text/text[] data types"}]
                }
            if prop.get("indexRangeFilters") and data_type not in ("number", "int", "date"):
                return 422, {
                    "error": [
                        {"message": "`indexRangeFilters` is not allowed for other than number/int/date data types"}
                    ]
                }
            prop.pop("skip_vectorization", None)
            prop.pop("vectorize_property_name", None)
            prop.setdefault("indexFilterable", data_type != "blob")
            prop.setdefault("indexSearchable", data_type in TEXT_TYPES)
            prop.setdefault("indexRangeFilters", False)
            if data_type in TEXT_TYPES:
                prop.setdefault("tokenization", "word")
        for config in cls.get("vectorConfig", {}).values():
            config.setdefault("vectorIndexType", "hnsw")
            config["vectorIndexConfig"] = {**deepcopy(HNSW_DEFAULTS), **config.get("vectorIndexConfig", {})}
        self.schemas[name] = cls
        self.objects[name] = {}
        return 200, cls

    # -- gRPC ------------------------------------------------------------------------------------

    def _health(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._record(
            "grpc", "Health/Check", "/grpc.health.v1.Health/Check", request, dict(context.invocation_metadata())
        )
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    def batch_objects(self, request: Any) -> Any:
        errors = []
        with self._lock:
            for index, obj in enumerate(request.objects):
                error = self._put(obj)
                if error:
                    errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=error))
        return batch_pb2.BatchObjectsReply(took=0.001, errors=errors)

    def _put(self, obj: Any) -> str | None:
        schema = self.schemas.get(obj.collection)
        if schema is None:
            return f"class {obj.collection!r} not found in schema"
        if obj.uuid in self.reject:
            return self.reject.pop(obj.uuid)
        known = {p["name"]: p["dataType"][0] for p in schema.get("properties", [])}
        props = _batch_properties(obj.properties)
        for name in props:
            if name not in known:
                return f"no such prop with name '{name}' found in class '{obj.collection}' in the schema"
        vectors: dict[str, np.ndarray] = {}
        for vec in obj.vectors:
            if vec.name not in schema.get("vectorConfig", {}):
                return f"collection {obj.collection} does not have named vector {vec.name!r}"
            values = np.frombuffer(vec.vector_bytes, dtype="<f4").copy()
            expected = self._dims.setdefault((obj.collection, vec.name), len(values))
            if len(values) != expected:
                return (
                    f"insert to vector index {vec.name}: new node has a vector with length {len(values)}. "
                    f"Existing nodes have vectors with length {expected}"
                )
            vectors[vec.name] = values
        if obj.vector_bytes:
            return "collection has named vectors; an unnamed vector was sent"
        self.objects[obj.collection][obj.uuid] = StoredObject(obj.uuid, props, vectors)
        return None

    def search(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            schema = self.schemas.get(request.collection)
            if schema is None:
                context.abort(grpc.StatusCode.NOT_FOUND, f"class {request.collection} not found")
            found = [
                o
                for o in self.objects[request.collection].values()
                if _matches(o, request.filters, request.HasField("filters"))
            ]
            scored = self._rank(request, schema, found, context)
            if request.after:
                scored = [(o, d, s) for o, d, s in scored if o.uuid > request.after]
            limit = request.limit or 10
            page = scored[request.offset : request.offset + limit]
            results = [_result(o, schema, request, distance, score) for o, distance, score in page]
        return search_get_pb2.SearchReply(took=0.001, results=results)

    def _rank(
        self, request: Any, schema: dict, found: list[StoredObject], context: Any
    ) -> list[tuple[StoredObject, float | None, float | None]]:
        if request.HasField("near_vector"):
            nv = request.near_vector
            target = _target(nv, context)
            query = _query_vector(nv.vectors, nv.vector_bytes, context)
            hits = [(o, 1.0 - _cosine(o.vectors[target], query), None) for o in found if target in o.vectors]
            return sorted(hits, key=lambda h: (h[1], h[0].uuid))
        if request.HasField("bm25_search"):
            props = list(request.bm25_search.properties) or _searchable(schema)
            hits = [(o, None, _term_count(o, props, request.bm25_search.query)) for o in found]
            return sorted([h for h in hits if h[2] > 0], key=lambda h: (-h[2], h[0].uuid))
        for name in ("hybrid_search", "near_object", "near_text", "group_by", "generative", "rerank"):
            if request.HasField(name):
                context.abort(grpc.StatusCode.UNIMPLEMENTED, f"stand-in does not implement {name}")
        return sorted(((o, None, None) for o in found), key=lambda h: h[0].uuid)  # fetch: uuid order

    def batch_delete(self, request: Any) -> Any:
        with self._lock:
            objects = self.objects.get(request.collection, {})
            matches = [u for u, o in objects.items() if _matches(o, request.filters, True)]
            matches = matches[: self.max_deletes_per_request]
            if not request.dry_run:
                for u in matches:
                    del objects[u]
        return batch_delete_pb2.BatchDeleteReply(
            took=0.001, failed=0, matches=len(matches), successful=0 if request.dry_run else len(matches)
        )

    def aggregate(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            if request.collection not in self.schemas:
                context.abort(grpc.StatusCode.NOT_FOUND, f"class {request.collection} not found")
            found = [
                o
                for o in self.objects[request.collection].values()
                if _matches(o, request.filters, request.HasField("filters"))
            ]
        if not request.HasField("group_by"):
            return aggregate_pb2.AggregateReply(
                took=0.001,
                single_result=aggregate_pb2.AggregateReply.Single(
                    objects_count=len(found) if request.objects_count else None,
                    aggregations=_aggregations(request.aggregations, found),
                ),
            )
        prop = request.group_by.property
        groups: dict[str, list[StoredObject]] = {}
        for o in found:
            groups.setdefault(str(o.properties.get(prop)), []).append(o)
        ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        if request.HasField("limit"):
            ordered = ordered[: request.limit]
        if self.max_groups is not None:
            ordered = ordered[: self.max_groups]
        Group = aggregate_pb2.AggregateReply.Group
        return aggregate_pb2.AggregateReply(
            took=0.001,
            grouped_results=aggregate_pb2.AggregateReply.Grouped(
                groups=[
                    Group(
                        objects_count=len(members) if request.objects_count else None,
                        aggregations=_aggregations(request.aggregations, members),
                        grouped_by=Group.GroupedBy(path=[prop], text=value),
                    )
                    for value, members in ordered
                ]
            ),
        )


class _Servicer(weaviate_pb2_grpc.WeaviateServicer):
    def __init__(self, server: WeaviateStandIn) -> None:
        self.server = server

    def _enter(self, name: str, request: Any, context: grpc.ServicerContext) -> None:
        headers = {k: v for k, v in context.invocation_metadata()}
        copy = type(request)()
        copy.CopyFrom(request)
        self.server._record("grpc", name, name, copy, headers)
        if self.server.api_key and headers.get("authorization") != f"Bearer {self.server.api_key}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "anonymous access not enabled, please provide an api key")

    def BatchObjects(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("BatchObjects", request, context)
        return self.server.batch_objects(request)

    def Search(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Search", request, context)
        return self.server.search(request, context)

    def BatchDelete(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("BatchDelete", request, context)
        return self.server.batch_delete(request)

    def Aggregate(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("Aggregate", request, context)
        return self.server.aggregate(request, context)


def _rest_handler(server: WeaviateStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record("rest", self.command, path, body, headers)
            public = path in ("/v1/meta", "/v1/.well-known/ready", "/v1/.well-known/live", "/pypi/weaviate-client/json")
            if server.api_key and not public and headers.get("authorization") != f"Bearer {server.api_key}":
                status, reply = 401, {"error": [{"message": "anonymous access not enabled"}]}
            elif path == "/v1/.well-known/openid-configuration":
                status, reply = 404, None
            else:
                status, reply = server.handle_rest(self.command, path, body)
            data = b"" if reply is None else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


# -- decoding what the client sends ----------------------------------------------------------------


def _batch_properties(p: Any) -> dict[str, Any]:
    props: dict[str, Any] = MessageToDict(p.non_ref_properties) if p.HasField("non_ref_properties") else {}
    for a in p.text_array_properties:
        props[a.prop_name] = list(a.values)
    for a in p.number_array_properties:
        props[a.prop_name] = (
            list(struct.unpack(f"<{len(a.values_bytes) // 8}d", a.values_bytes)) if a.values_bytes else list(a.values)
        )
    for a in p.int_array_properties:
        props[a.prop_name] = list(a.values)
    for a in p.boolean_array_properties:
        props[a.prop_name] = list(a.values)
    for name in p.empty_list_props:
        props[name] = []
    return props


def _target(search: Any, context: Any) -> str:
    names = list(search.targets.target_vectors) if search.HasField("targets") else list(search.target_vectors)
    if len(names) != 1:
        context.abort(grpc.StatusCode.UNIMPLEMENTED, f"stand-in needs exactly one target vector, got {names}")
    return names[0]


def _query_vector(vectors: Any, vector_bytes: bytes, context: Any) -> np.ndarray:
    raw = vectors[0].vector_bytes if len(vectors) else vector_bytes
    if not raw:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no query vector")
    return np.frombuffer(raw, dtype="<f4")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) != len(b):
        raise ValueError(f"vector lengths don't match: {len(a)} vs {len(b)}")
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b)) / norm if norm else 0.0


def _tokens(text: str) -> list[str]:
    return re.findall(r"[0-9a-z]+", text.lower())


def _term_count(o: StoredObject, props: list[str], query: str) -> float:
    terms = set(_tokens(query))
    words = [t for p in props for t in _tokens(str(o.properties.get(p) or ""))]
    return float(sum(1 for w in words if w in terms))


def _searchable(schema: dict) -> list[str]:
    return [
        p["name"] for p in schema.get("properties", []) if p.get("indexSearchable") and p["dataType"][0] in TEXT_TYPES
    ]


def _matches(o: StoredObject, f: Any, present: bool) -> bool:
    if not present:
        return True
    op = f.operator
    if op == F.OPERATOR_AND:
        return all(_matches(o, sub, True) for sub in f.filters)
    if op == F.OPERATOR_OR:
        return any(_matches(o, sub, True) for sub in f.filters)
    if op == F.OPERATOR_NOT:
        return not _matches(o, f.filters[0], True)
    name = f.target.property if f.HasField("target") else f.on[0]
    have = o.uuid if name == "_id" else o.properties.get(name)
    kind = f.WhichOneof("test_value")
    want = getattr(f, kind) if kind else None
    if kind and kind.endswith("_array"):
        want = list(want.values)
    if have is None:
        return False
    values = have if isinstance(have, list) else [have]
    if op == F.OPERATOR_EQUAL:
        return have == want or (isinstance(have, list) and want in have)
    if op == F.OPERATOR_NOT_EQUAL:
        return have != want
    if op == F.OPERATOR_GREATER_THAN:
        return have > want
    if op == F.OPERATOR_GREATER_THAN_EQUAL:
        return have >= want
    if op == F.OPERATOR_LESS_THAN:
        return have < want
    if op == F.OPERATOR_LESS_THAN_EQUAL:
        return have <= want
    if op == F.OPERATOR_CONTAINS_ANY:
        return any(v in want for v in values)
    if op == F.OPERATOR_CONTAINS_ALL:
        return all(w in values for w in want)
    if op == F.OPERATOR_CONTAINS_NONE:
        return not any(v in want for v in values)
    raise NotImplementedError(f"stand-in does not evaluate filter operator {F.Operator.Name(op)}")


# -- encoding replies ------------------------------------------------------------------------------


def _value(data_type: str, v: Any) -> Any:
    if data_type == "text":
        return properties_pb2.Value(text_value=str(v))
    if data_type == "number":
        return properties_pb2.Value(number_value=float(v))
    if data_type == "int":
        return properties_pb2.Value(int_value=int(v))
    if data_type == "boolean":
        return properties_pb2.Value(bool_value=bool(v))
    if data_type == "text[]":
        return properties_pb2.Value(
            list_value=properties_pb2.ListValue(text_values=properties_pb2.TextValues(values=list(v)))
        )
    if data_type == "number[]":
        packed = struct.pack(f"<{len(v)}d", *v)
        return properties_pb2.Value(
            list_value=properties_pb2.ListValue(number_values=properties_pb2.NumberValues(values=packed))
        )
    if data_type == "blob":  # base64 text, as stored and as the real server returns it
        return properties_pb2.Value(blob_value=str(v))
    raise NotImplementedError(f"stand-in does not return {data_type} properties")


def _result(o: StoredObject, schema: dict, request: Any, distance: float | None, score: float | None) -> Any:
    types = {p["name"]: p["dataType"][0] for p in schema.get("properties", [])}
    wanted = (
        list(types) if request.properties.return_all_nonref_properties else list(request.properties.non_ref_properties)
    )
    fields = {name: _value(types[name], o.properties[name]) for name in wanted if o.properties.get(name) is not None}
    md = request.metadata
    names = list(o.vectors) if md.vector else [n for n in md.vectors if n in o.vectors]
    meta = search_get_pb2.MetadataResult(
        id=o.uuid,
        id_as_bytes=uuid_lib.UUID(o.uuid).bytes,
        distance=distance if md.distance and distance is not None else 0.0,
        distance_present=bool(md.distance and distance is not None),
        certainty=(1 - distance / 2) if md.certainty and distance is not None else 0.0,
        certainty_present=bool(md.certainty and distance is not None),
        score=score if md.score and score is not None else 0.0,
        score_present=bool(md.score and score is not None),
        creation_time_unix=int(time.time() * 1000) if md.creation_time_unix else 0,
        creation_time_unix_present=md.creation_time_unix,
        vectors=[
            base_pb2.Vectors(
                name=n, vector_bytes=o.vectors[n].astype("<f4").tobytes(), type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32
            )
            for n in names
        ],
    )
    return search_get_pb2.SearchResult(
        properties=search_get_pb2.PropertiesResult(
            non_ref_props=properties_pb2.Properties(fields=fields), target_collection=request.collection
        ),
        metadata=meta,
    )


def _aggregations(requested: Any, members: list[StoredObject]) -> Any:
    Agg = aggregate_pb2.AggregateReply.Aggregations
    out = []
    for a in requested:
        if a.WhichOneof("aggregation") != "number":
            raise NotImplementedError("stand-in aggregates only numbers")
        values = [float(o.properties[a.property]) for o in members if o.properties.get(a.property) is not None]
        n = a.number
        out.append(
            Agg.Aggregation(
                property=a.property,
                number=Agg.Aggregation.Number(
                    count=len(values) if n.count else None,
                    minimum=min(values) if n.minimum and values else None,
                    maximum=max(values) if n.maximum and values else None,
                    mean=sum(values) / len(values) if n.mean and values else None,
                    sum=math.fsum(values) if n.sum and values else None,
                ),
            )
        )
    return Agg(aggregations=out)
