// Writes the seed corpus of relay_datagram_fuzzer into the directory given
// as the only argument (normally services/relay/fuzz/corpus):
//   cmake --build build-fuzz --target relay_datagram_fuzz_seeds
//   build-fuzz/services/relay/fuzz/relay_datagram_fuzz_seeds \
//       services/relay/fuzz/corpus
// Valid BATCH datagrams with readings of every kind, a signed one, a
// REANNOUNCE_REQUEST, and a few broken ones. Deterministic output.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "hwcast/v1/reading.pb.h"
#include "services/relay/datagram.h"

namespace {

using hwcast::relay::DatagramHeader;
using hwcast::relay::DatagramType;
using hwcast::v1::Reading;
using hwcast::v1::ReadingBatch;

constexpr int64_t kT0 = 1'700'000'000;

Reading Base(const std::string& source_id, uint64_t sequence) {
  Reading r;
  r.set_host("rack1-node3");
  r.set_source_id(source_id);
  r.set_sequence(sequence);
  r.mutable_observed_time()->set_seconds(kT0 + static_cast<int64_t>(sequence));
  r.mutable_observed_time()->set_nanos(250'000'000);
  r.set_quality(hwcast::v1::QUALITY_OK);
  return r;
}

Reading Temperature(uint64_t sequence, double celsius) {
  Reading r = Base("hwmon/coretemp/temp1", sequence);
  r.set_label("Package id 0");
  r.mutable_temperature()->set_celsius(celsius);
  return r;
}

Reading Humidity(uint64_t sequence) {
  Reading r = Base("room", sequence);
  r.mutable_humidity()->set_relative_percent(41.5);
  return r;
}

Reading Power(uint64_t sequence) {
  Reading r = Base("ups/main", sequence);
  auto* p = r.mutable_power();
  p->set_line(hwcast::v1::PowerState::LINE_STATE_ON_BATTERY);
  p->set_charge_percent(87);
  p->set_runtime_seconds(1200);
  p->set_raw_status("OB LB");
  return r;
}

Reading Reachability(uint64_t sequence) {
  Reading r = Base("ping/chiller", sequence);
  auto* p = r.mutable_reachability();
  p->set_reachable(true);
  p->set_round_trip_seconds(0.0004);
  p->set_target("tcp:10.0.0.5:22");
  return r;
}

Reading Entropy(uint64_t sequence) {
  Reading r = Base("hwrng", sequence);
  auto* e = r.mutable_entropy();
  std::string data;
  for (int i = 0; i < 64; ++i) data.push_back(static_cast<char>(i * 37 + 11));
  e->set_data(data);
  e->set_verdict(hwcast::v1::EntropyChunk::VERDICT_PASS);
  e->set_entropy_bits(400);
  return r;
}

Reading Disks(uint64_t sequence) {
  Reading r = Base("blkid", sequence);
  auto* inventory = r.mutable_disk_inventory();
  auto* d = inventory->add_disks();
  d->set_device("/dev/sda1");
  d->set_uuid("0b1f6d2e-5a4c-4e43-9c1e-3a1d2b7f9e10");
  d->set_label("root");
  d->set_filesystem_type("ext4");
  d->set_size_bytes(uint64_t{512} << 30);
  d->set_mount_point("/");
  d = inventory->add_disks();
  d->set_device("/dev/sdb");
  d->set_filesystem_type("swap");
  d->set_size_bytes(uint64_t{8} << 30);
  return r;
}

Reading Fault(uint64_t sequence) {
  Reading r = Base("hwmon/nct6775/temp3", sequence);
  r.set_quality(hwcast::v1::QUALITY_SENSOR_FAULT);
  r.set_error("read: No such device or address");
  return r;
}

ReadingBatch Batch(uint64_t sequence, const std::vector<Reading>& readings) {
  ReadingBatch b;
  b.set_collector_id("rack1-node3");
  b.set_epoch(0x5eed5eed12345678u);
  b.set_batch_sequence(sequence);
  b.mutable_sent_time()->set_seconds(kT0 + 60);
  for (const Reading& r : readings) *b.add_readings() = r;
  return b;
}

std::string Datagram(const std::string& payload, uint8_t hops = 0,
                     DatagramType type = DatagramType::kBatch) {
  DatagramHeader header;
  header.type = type;
  header.hops = hops;
  header.sender_id = 0x0123456789abcdefu;
  std::string out;
  if (!hwcast::relay::EncodeDatagram(header, payload,
                                     hwcast::relay::kMaxDatagramBytes, &out)
           .ok()) {
    std::fprintf(stderr, "seed does not fit a datagram\n");
    std::exit(1);
  }
  return out;
}

std::string SignedPayload(const ReadingBatch& batch, bool with_signature) {
  hwcast::v1::SignedBatch s;
  batch.SerializeToString(s.mutable_batch());
  if (with_signature) {
    s.set_signature(std::string(64, '\x5a'));
    s.set_key_id("k1\x00\x01\x02\x03\x04\x05");
  }
  return s.SerializeAsString();
}

std::string BatchDatagram(const ReadingBatch& batch, uint8_t hops = 0,
                          bool with_signature = false) {
  return Datagram(SignedPayload(batch, with_signature), hops);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<std::pair<std::string, std::string>> seeds;
  seeds.emplace_back(
      "batch_temperature",
      BatchDatagram(Batch(1, {Temperature(1, 23.5), Temperature(2, 23.75)})));
  seeds.emplace_back("batch_humidity", BatchDatagram(Batch(2, {Humidity(7)})));
  seeds.emplace_back("batch_power", BatchDatagram(Batch(3, {Power(3)})));
  seeds.emplace_back("batch_reachability",
                     BatchDatagram(Batch(4, {Reachability(9)})));
  seeds.emplace_back("batch_entropy", BatchDatagram(Batch(5, {Entropy(4)})));
  seeds.emplace_back("batch_disks", BatchDatagram(Batch(6, {Disks(1)})));
  seeds.emplace_back("batch_fault", BatchDatagram(Batch(7, {Fault(12)})));
  seeds.emplace_back(
      "batch_mixed",
      BatchDatagram(Batch(8, {Temperature(3, -4.25), Humidity(8), Power(4),
                              Reachability(10), Fault(13)}),
                    /*hops=*/2));
  seeds.emplace_back("batch_signed",
                     BatchDatagram(Batch(9, {Temperature(4, 61)}), 1,
                                   /*with_signature=*/true));
  seeds.emplace_back("batch_empty_readings", BatchDatagram(Batch(10, {})));
  seeds.emplace_back("reannounce_request",
                     Datagram("", 0, DatagramType::kReannounceRequest));

  // Valid datagrams around batches the relay refuses.
  Reading no_host = Temperature(5, 20);
  no_host.clear_host();
  seeds.emplace_back("batch_invalid_reading",
                     BatchDatagram(Batch(11, {no_host})));
  ReadingBatch no_epoch = Batch(12, {Humidity(9)});
  no_epoch.set_epoch(0);
  seeds.emplace_back("batch_invalid_epoch", BatchDatagram(no_epoch));
  seeds.emplace_back(
      "batch_not_a_batch",
      Datagram(std::string("\x0a\x06\xff\xff\xff\xff\x2a\x7f", 8)));

  // Broken datagrams.
  const std::string good = seeds.front().second;
  seeds.emplace_back("truncated_header", good.substr(0, 11));
  seeds.emplace_back("truncated_payload", good.substr(0, good.size() - 9));
  std::string bad_flags = good;
  bad_flags[7] = 1;
  seeds.emplace_back("bad_flags", bad_flags);

  for (const auto& [name, bytes] : seeds) {
    const std::string path = dir + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("%-24s %4zu bytes\n", name.c_str(), bytes.size());
  }
  return 0;
}
