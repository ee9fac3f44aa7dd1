"""Roles for every RPC, by service, with the real daemons over mutual TLS
(lib/rpc_authz.h), plus the per-RPC counter, undecodable requests and
certificates renewed on SIGHUP (lib/tls_reload.h).

Identities (client certificates signed by the test CA):
  h1-pub.test     publish for collector "itest-collector" (the collector's)
  other-pub.test  publish for collector "someone-else"
  sub.test        subscribe
  ent.test        entropy
  ops.test        admin
A role that server.authorization gives nobody stays open (configs written
before roles existed keep working); the unix socket is always allowed.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess

import grpc

import harness
from harness import wait_for
from test_end_to_end import Stack

PERMISSION_DENIED = grpc.StatusCode.PERMISSION_DENIED


class AuthzStack(Stack):

    def setUp(self):
        super().setUp()
        self.certs = harness.TestCerts(self.dir)
        self.ids = {name: self.certs.client(name) for name in (
            "h1-pub.test", "other-pub.test", "sub.test", "ent.test",
            "ops.test")}

    def tls_server(self, rules, cert=None, key=None):
        """server.tls_listen + tls (client certificates required) + rules."""
        return {"tls_listen": ["127.0.0.1:0"],
                "tls": {"cert_file": cert or self.certs.server_cert,
                        "key_file": key or self.certs.server_key,
                        "client_ca_file": self.certs.ca},
                "authorization": rules}

    def sock(self, name):
        return f"unix:{os.path.join(self.dir, name)}.sock"

    def client_tls(self, identity):
        """A daemon's client TLS block presenting `identity`'s certificate."""
        cert, key = self.ids[identity]
        return {"ca_file": self.certs.ca, "cert_file": cert, "key_file": key}

    def start_relay_and_collector(self, rules):
        """self.relay: TCP, unix socket and mutual TLS with `rules`, which
        give h1-pub.test the publish role; self.collector publishes to its
        TLS listener as h1-pub.test."""
        server = harness.server_config(
            listen=("127.0.0.1:0", self.sock("relay")))
        server.update(self.tls_server(rules))
        self.relay = self.start("relay", harness.relay_config(
            self.trust, server=server))
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.endpoints["tls"]], [harness.file_source(self.room)],
            key=self.key, relay_tls=self.client_tls("h1-pub.test")))

    def channel(self, daemon, identity=None):
        """A channel to `daemon`: over mutual TLS as `identity`, or plaintext
        TCP (identity "plain"), or its unix socket (identity "unix")."""
        if identity == "plain":
            return grpc.insecure_channel(daemon.grpc)
        if identity == "unix":
            return grpc.insecure_channel(daemon.unix)
        cert, key = self.ids[identity]
        with open(self.certs.ca, "rb") as f:
            ca = f.read()
        with open(cert, "rb") as f:
            chain = f.read()
        with open(key, "rb") as f:
            private = f.read()
        creds = grpc.ssl_channel_credentials(ca, private, chain)
        return grpc.secure_channel(daemon.endpoints["tls"], creds)

    def code_of(self, call):
        """The status code of `call()` (a callable), OK when it succeeds."""
        try:
            call()
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            self.last_error = e.details()
            return e.code()

    def metric(self, daemon, name, **labels):
        return harness.metric(daemon.metrics_text(), name, **labels) or 0


class RelayRolesTest(AuthzStack):

    def setUp(self):
        super().setUp()
        self.start_relay_and_collector([
            {"identity": "h1-pub.test", "roles": ["publish"],
             "collector_ids": ["itest-collector"]},
            {"identity": "other-pub.test", "roles": ["publish"],
             "collector_ids": ["someone-else"]},
            {"identity": "sub.test", "roles": ["subscribe"]},
            {"identity": "ent.test", "roles": ["entropy"]}])

    def relay_stub(self, identity):
        return self.pb["relay_pb2_grpc"].RelayStub(
            self.channel(self.relay, identity))

    def publish(self, identity, collector_id):
        """Publishes one (unsigned) batch of `collector_id`; the ack's result
        name, or raises the stream's error."""
        rpb = self.pb["reading_pb2"]
        batch = rpb.ReadingBatch(collector_id=collector_id, epoch=7,
                                 batch_sequence=1)
        request = self.pb["relay_pb2"].PublishRequest(
            batch=rpb.SignedBatch(batch=batch.SerializeToString()))
        acks = list(self.relay_stub(identity).Publish(iter([request]),
                                                      timeout=10))
        return self.pb["relay_pb2"].PublishAck.Result.Name(acks[0].result)

    def test_publish_only_for_the_identitys_collectors(self):
        # The collector publishes over mutual TLS as h1-pub.test: accepted.
        def latest_room():
            latest = self.relay_stub("sub.test").ListLatest(
                self.pb["relay_pb2"].ListLatestRequest(), timeout=5)
            return any(r.reading.source_id == "room" for r in latest.readings)
        wait_for(latest_room, what="the collector's batches at the relay")

        # Another publisher's certificate may not publish itest-collector.
        self.assertEqual(
            self.code_of(lambda: self.publish("other-pub.test",
                                              "itest-collector")),
            PERMISSION_DENIED)
        self.assertIn("the client certificate (other-pub.test) from ",
                      self.last_error)
        self.assertIn("may publish for collector ids [someone-else], not for "
                      "'itest-collector'", self.last_error)
        # Its own collector id passes the role check (the unsigned batch is
        # then rejected by trust, in the ack, not by authorization).
        self.assertEqual(self.publish("other-pub.test", "someone-else"),
                         "RESULT_REJECTED")
        # No publish role, plaintext TCP: refused. The unix socket: any id.
        self.assertEqual(self.code_of(
            lambda: self.publish("sub.test", "itest-collector")),
            PERMISSION_DENIED)
        self.assertIn("has no role 'publish' in server.authorization",
                      self.last_error)
        self.assertEqual(self.code_of(
            lambda: self.publish("plain", "itest-collector")),
            PERMISSION_DENIED)
        self.assertEqual(self.publish("unix", "anyone"), "RESULT_REJECTED")

        text = self.relay.metrics_text()
        self.assertEqual(harness.metric(
            text, "hwcast_rpc_denied_total", method="Relay.Publish",
            reason="collector_not_allowed"), 1)
        self.assertEqual(harness.metric(
            text, "hwcast_rpc_denied_total", method="Relay.Publish",
            reason="role_missing"), 1)
        self.assertEqual(harness.metric(
            text, "hwcast_rpc_denied_total", method="Relay.Publish",
            reason="plaintext_tcp"), 1)
        self.assertEqual(harness.metric(
            text, "hwcast_rpc_total", service="hwcast.v1.Relay",
            method="Publish", code="PERMISSION_DENIED"), 3)
        self.assertIn("refused Relay.Publish: the client certificate "
                      "(other-pub.test)", self.relay.logs())

    def test_subscribe_and_entropy_roles(self):
        rpb = self.pb["relay_pb2"]
        reads = {
            "ListLatest": lambda s: s.ListLatest(rpb.ListLatestRequest(),
                                                 timeout=5),
            "ListCollectors": lambda s: s.ListCollectors(
                rpb.ListCollectorsRequest(), timeout=5),
            "ListDisks": lambda s: s.ListDisks(rpb.ListDisksRequest(),
                                               timeout=5),
            "Subscribe": lambda s: next(iter(s.Subscribe(
                rpb.SubscribeRequest(), timeout=5))),
        }
        for method, call in reads.items():
            for identity, want in (("sub.test", grpc.StatusCode.OK),
                                   ("unix", grpc.StatusCode.OK),
                                   ("h1-pub.test", PERMISSION_DENIED),
                                   ("plain", PERMISSION_DENIED)):
                got = self.code_of(lambda: call(self.relay_stub(identity)))
                self.assertEqual(got, want, f"{method} as {identity}")
            self.assertIn("needs a caller with role 'subscribe'",
                          self.last_error)

        entropy = self.pb["entropy_pb2"]
        def draw(identity):
            stub = self.pb["entropy_pb2_grpc"].EntropyStub(
                self.channel(self.relay, identity))
            return list(stub.Draw(entropy.DrawEntropyRequest(
                host="itest-host", bytes=16), timeout=10))
        self.assertEqual(self.code_of(lambda: draw("ent.test")),
                         grpc.StatusCode.OK)
        self.assertEqual(self.code_of(lambda: draw("sub.test")),
                         PERMISSION_DENIED)
        self.assertIn("Entropy.Draw needs a caller with role 'entropy'",
                      self.last_error)
        text = self.relay.metrics_text()
        self.assertEqual(harness.metric(
            text, "hwcast_rpc_total", service="hwcast.v1.Relay",
            method="ListDisks", code="PERMISSION_DENIED"), 2)
        self.assertEqual(harness.metric(
            text, "hwcast_rpc_total", service="hwcast.v1.Entropy",
            method="Draw", code="PERMISSION_DENIED"), 1)


class ServiceRolesTest(AuthzStack):
    """Actuator and collector: GetStatus needs "subscribe" once a rule gives
    it; without such a rule (or without server.authorization) it stays open.
    Undecodable requests are INVALID_ARGUMENT, counted."""

    def setUp(self):
        super().setUp()
        self.relay = self.start("relay", harness.relay_config(self.trust))
        rules = [{"identity": "sub.test", "roles": ["subscribe"]},
                 {"identity": "ops.test", "roles": ["admin"]}]
        collector_server = harness.server_config(
            listen=("127.0.0.1:0", self.sock("collector")))
        collector_server.update(self.tls_server(rules))
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.grpc], [harness.file_source(self.room)], key=self.key,
            server=collector_server))
        actuator_server = harness.server_config(
            listen=("127.0.0.1:0", self.sock("actuator")))
        actuator_server.update(self.tls_server(rules))
        self.actuator = self.start("actuator", harness.actuator_config(
            [self.relay.grpc], self.trust, server=actuator_server))

    def test_get_status_needs_subscribe(self):
        apb, cpb = self.pb["actuator_pb2"], self.pb["collector_pb2"]
        calls = {
            "Actuator.GetStatus": (self.actuator, lambda ch: self.pb[
                "actuator_pb2_grpc"].ActuatorStub(ch).GetStatus(
                    apb.GetStatusRequest(), timeout=5)),
            "Collector.GetStatus": (self.collector, lambda ch: self.pb[
                "collector_pb2_grpc"].CollectorStub(ch).GetStatus(
                    cpb.GetCollectorStatusRequest(), timeout=5)),
        }
        for method, (daemon, call) in calls.items():
            for identity, want in (("sub.test", grpc.StatusCode.OK),
                                   ("unix", grpc.StatusCode.OK),
                                   ("ent.test", PERMISSION_DENIED),
                                   ("plain", PERMISSION_DENIED)):
                got = self.code_of(lambda: call(self.channel(daemon,
                                                             identity)))
                self.assertEqual(got, want, f"{method} as {identity}")
            self.assertIn(f"{method} needs a caller with role 'subscribe'",
                          self.last_error)
            service, name = method.split(".")
            self.assertEqual(self.metric(
                daemon, "hwcast_rpc_total", service=f"hwcast.v1.{service}",
                method=name, code="PERMISSION_DENIED"), 2)
            self.assertEqual(self.metric(
                daemon, "hwcast_rpc_denied_total", method=method,
                reason="plaintext_tcp"), 1)
        # Admin stays admin: sub.test may read but not cancel.
        self.assertEqual(self.code_of(lambda: self.pb[
            "actuator_pb2_grpc"].ActuatorStub(self.channel(
                self.actuator, "sub.test")).Cancel(
                    apb.CancelRequest(), timeout=5)), PERMISSION_DENIED)
        # The relay has no server.authorization: its reads stay open on
        # plaintext TCP, as before.
        self.relay_latest()

    def test_undecodable_requests_are_invalid_argument_and_counted(self):
        for daemon, method in (
                (self.actuator, "/hwcast.v1.Actuator/GetStatus"),
                (self.actuator, "/hwcast.v1.Actuator/Cancel"),
                (self.collector, "/hwcast.v1.Collector/GetStatus"),
                (self.collector, "/hwcast.v1.Collector/PollNow")):
            call = grpc.insecure_channel(daemon.unix).unary_unary(method)
            self.assertEqual(self.code_of(lambda: call(b"\xff\xff\xff",
                                                       timeout=5)),
                             grpc.StatusCode.INVALID_ARGUMENT, method)
            self.assertIn("request (3 bytes) is not a serialized hwcast.v1.",
                          self.last_error)
        for daemon, service, methods in (
                (self.actuator, "hwcast.v1.Actuator", ("GetStatus", "Cancel")),
                (self.collector, "hwcast.v1.Collector",
                 ("GetStatus", "PollNow"))):
            for method in methods:
                self.assertEqual(self.metric(
                    daemon, "hwcast_rpc_total", service=service,
                    method=method, code="INVALID_ARGUMENT"), 1)


class TlsReloadTest(AuthzStack):
    """SIGHUP renews the relay's certificate: a wrong key is refused (old
    certificate kept, logged, counted); a good one reaches new connections
    while a stream opened before stays up."""

    def served_common_name(self, address):
        host, port = address.rsplit(":", 1)
        context = ssl.create_default_context(cafile=self.certs.ca)
        context.check_hostname = False
        context.load_cert_chain(*self.ids["sub.test"])
        context.set_alpn_protocols(["h2"])
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            with context.wrap_socket(raw) as tls:
                subject = dict(x[0] for x in tls.getpeercert()["subject"])
                return subject["commonName"]

    def test_sighup_renews_certificate_without_dropping_streams(self):
        cert = os.path.join(self.dir, "relay-cert.pem")
        key = os.path.join(self.dir, "relay-key.pem")
        shutil.copy(self.certs.server_cert, cert)
        shutil.copy(self.certs.server_key, key)
        os.chmod(key, 0o600)
        server = harness.server_config()
        server.update(self.tls_server(
            [{"identity": "sub.test", "roles": ["subscribe"]}], cert, key))
        self.relay = self.start("relay", harness.relay_config(
            self.trust, server=server))
        self.collector = self.start("collector", harness.collector_config(
            [self.relay.grpc], [harness.file_source(self.room)], key=self.key))
        tls = self.relay.endpoints["tls"]
        self.assertEqual(self.served_common_name(tls), "relay.test")

        stream = self.pb["relay_pb2_grpc"].RelayStub(
            self.channel(self.relay, "sub.test")).Subscribe(
                self.pb["relay_pb2"].SubscribeRequest(), timeout=60)
        next(stream)

        # A renewed certificate (same CA) with the old key: refused.
        d = self.certs.dir
        with open(os.path.join(d, "renewed.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        for step in (
                ["req", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                 "renewed.key", "-out", "renewed.csr", "-subj",
                 "/CN=renewed.test"],
                ["x509", "-req", "-in", "renewed.csr", "-CA", "ca.pem",
                 "-CAkey", "ca.key", "-CAcreateserial", "-out", "renewed.pem",
                 "-days", "2", "-extfile", "renewed.ext"]):
            subprocess.run(["openssl", *step], cwd=d, check=True,
                           capture_output=True)
        os.chmod(os.path.join(d, "renewed.key"), 0o600)
        shutil.copy(os.path.join(d, "renewed.pem"), cert)
        self.sighup("TLS reload refused")
        self.assertIn("is not the key of certificate", self.relay.logs())
        self.assertEqual(self.metric(
            self.relay, "hwcast_tls_reload_failures_total"), 1)
        self.assertEqual(self.served_common_name(tls), "relay.test")

        # With its key: served to new connections.
        shutil.copy(os.path.join(d, "renewed.key"), key)
        self.sighup("TLS reloaded: certificate")
        wait_for(lambda: self.served_common_name(tls) == "renewed.test",
                 what="new connections to see the renewed certificate")
        self.assertGreater(self.metric(
            self.relay, "hwcast_tls_certificate_expiry_timestamp_seconds"), 0)
        # The stream opened before the reloads still delivers.
        self.write_room("23.5")
        wait_for(lambda: any(r.source_id == "room"
                             and abs(r.temperature.celsius - 23.5) < 1e-9
                             for r in self.batch_readings(next(stream))),
                 what="23.5 on the stream opened before the reload")
        stream.cancel()

    def batch_readings(self, response):
        batch = self.pb["reading_pb2"].ReadingBatch()
        batch.ParseFromString(response.batch.batch)
        return batch.readings

    def sighup(self, expect):
        before = self.relay.logs().count(expect)
        self.relay.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: self.relay.logs().count(expect) > before,
                 what=f"relay to log {expect!r}")


class TlsSubscriptionTest(AuthzStack):
    """The relay's subscribers over mutual TLS: an actuator (relay_tls) and
    a bridging relay (bridge.tls) reach the relay's TLS listener with their
    client certificates; the relay checks "subscribe" (a rule gives it), so
    a certificate without it is refused, visible in the link's status; a
    changed relay_tls reconnects on SIGHUP."""

    def setUp(self):
        super().setUp()
        self.start_relay_and_collector([
            {"identity": "h1-pub.test", "roles": ["publish"],
             "collector_ids": ["itest-collector"]},
            {"identity": "sub.test", "roles": ["subscribe"]}])

    def relay_link(self, actuator):
        links = self.actuator_status(actuator).relays
        self.assertEqual(len(links), 1)
        return links[0]

    def test_actuator_subscribes_over_mutual_tls_and_needs_the_role(self):
        tls = self.relay.endpoints["tls"]
        actuator = self.start("actuator", harness.actuator_config(
            [tls], self.trust, relay_tls=self.client_tls("sub.test")))
        wait_for(lambda: self.actuator_sees_room(21.5, actuator),
                 what="the reading at the actuator over mutual TLS")
        self.assertTrue(self.relay_link(actuator).connected)

        # The same actuator, reloaded with a certificate lacking the role:
        # the link reconnects with it and is refused.
        config = harness.actuator_config(
            [tls], self.trust, relay_tls=self.client_tls("ent.test"))
        with open(actuator.config_path, "w") as f:
            f.write(harness.to_yaml(config))
        before = actuator.logs().count("reload done")
        actuator.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: actuator.logs().count("reload done") > before,
                 what="the actuator's reload")
        self.assertIn(f"reload: relay {tls}: relay_tls changed, reconnecting",
                      actuator.logs())
        wait_for(lambda: "PERMISSION_DENIED" in
                 self.relay_link(actuator).last_error,
                 what="the refusal in the link's status")
        link = self.relay_link(actuator)
        self.assertIn("role 'subscribe'", link.last_error)
        self.assertFalse(link.connected)

        # A CA that did not sign the relay's certificate: the handshake
        # fails, said in the status.
        other = harness.TestCerts(os.path.join(self.dir, "other-ca"))
        stranger = self.start("actuator", harness.actuator_config(
            [tls], self.trust, host="stranger",
            relay_tls={"ca_file": other.ca}), name="stranger")
        wait_for(lambda: "UNAVAILABLE" in self.relay_link(stranger).last_error,
                 what="the failed handshake in the link's status")

    def test_bridge_over_mutual_tls(self):
        bridged = self.start("relay", harness.relay_config(
            self.trust, bridge={"upstream": [self.relay.endpoints["tls"]],
                                "reconnect": dict(harness.FAST_RECONNECT),
                                "tls": self.client_tls("sub.test")}),
            name="bridged")

        def bridged_has_room():
            return any(r.reading.source_id == "room"
                       for r in self.relay_latest(bridged).readings)
        wait_for(bridged_has_room, what="the reading through the TLS bridge")
        self.assertEqual(harness.metric(
            bridged.metrics_text(), "hwcast_relay_bridge_connected",
            upstream=self.relay.endpoints["tls"]), 1)
