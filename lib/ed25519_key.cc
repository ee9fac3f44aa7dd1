#include "lib/ed25519_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/posix_util.h"

namespace hwcast {
namespace {

constexpr char kPublicPrefix[] = "ed25519:";
constexpr char kPrivatePrefix[] = "ed25519-private:";
constexpr char kKeyFileHeader[] =
    "# hwcast Ed25519 signing key. Keep it secret.\n";

static_assert(kEd25519PublicKeyBytes == crypto_sign_ed25519_PUBLICKEYBYTES);
static_assert(kEd25519SignatureBytes == crypto_sign_ed25519_BYTES);
static_assert(crypto_sign_ed25519_SEEDBYTES == 32);
static_assert(crypto_sign_ed25519_SECRETKEYBYTES == 64);

std::string ToBase64(const uint8_t* data, size_t size) {
  std::string out(
      sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size,
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Decodes standard base64 (padding optional) into exactly `size` bytes.
absl::Status FromBase64(absl::string_view text, uint8_t* out, size_t size) {
  // Room for more than expected so that a too-long value is reported as such.
  std::vector<uint8_t> buffer(text.size() + 1);
  size_t decoded = 0;
  const char* end = nullptr;
  const int rc = sodium_base642bin(
      buffer.data(), buffer.size(), text.data(), text.size(), /*ignore=*/"",
      &decoded, &end,
      absl::EndsWith(text, "=") ? sodium_base64_VARIANT_ORIGINAL
                                : sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
  if (rc != 0 || end != text.data() + text.size()) {
    sodium_memzero(buffer.data(), buffer.size());
    // Never echo the text: it may be a secret.
    return absl::InvalidArgumentError("is not valid base64");
  }
  if (decoded != size) {
    sodium_memzero(buffer.data(), buffer.size());
    return absl::InvalidArgumentError(absl::StrCat(
        "decodes to ", decoded, " bytes, expected ", size, " (truncated?)"));
  }
  std::memcpy(out, buffer.data(), size);
  sodium_memzero(buffer.data(), buffer.size());
  return absl::OkStatus();
}

std::string Errno(int err) { return std::strerror(err); }

// Creates `path` exclusively with `mode` and writes `text`. On failure the
// partial file is removed.
absl::Status WriteNewFile(const std::string& path, absl::string_view text,
                          mode_t mode) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    const int err = errno;
    if (err == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists; not overwriting it"));
    }
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", path, ": ", Errno(err)));
  }
  absl::Status status = absl::OkStatus();
  // The umask may only have removed bits; make the mode exact.
  if (::fchmod(fd, mode) != 0) {
    status = absl::InternalError(
        absl::StrCat("cannot chmod ", path, ": ", Errno(errno)));
  }
  size_t written = 0;
  while (status.ok() && written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = absl::InternalError(
          absl::StrCat("cannot write ", path, ": ", Errno(errno)));
      break;
    }
    written += static_cast<size_t>(n);
  }
  if (status.ok() && ::fsync(fd) != 0) {
    status = absl::InternalError(
        absl::StrCat("cannot sync ", path, ": ", Errno(errno)));
  }
  if (::close(fd) != 0 && status.ok()) {
    status = absl::InternalError(
        absl::StrCat("cannot close ", path, ": ", Errno(errno)));
  }
  if (!status.ok()) ::unlink(path.c_str());
  return status;
}

}  // namespace

absl::Status InitSodium() {
  static const int result = sodium_init();
  if (result < 0) {
    return absl::InternalError("libsodium failed to initialize");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Ed25519PublicKey

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::Parse(
    absl::string_view text) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  text = absl::StripAsciiWhitespace(text);
  // A comment may follow the key after whitespace: the whole .pub line
  // ("ed25519:BASE64 NAME") is accepted on purpose. The comment is only a
  // note (the trust entry's `name` is what logs use); it must be one line of
  // printable text and must not hold another key, which would otherwise be
  // silently ignored.
  const size_t space = text.find_first_of(" \t");
  if (space != absl::string_view::npos) {
    const absl::string_view comment =
        absl::StripLeadingAsciiWhitespace(text.substr(space));
    for (char c : comment) {
      if (absl::ascii_iscntrl(c)) {
        return absl::InvalidArgumentError(
            "public key: the comment after the key holds a control character "
            "or line break; paste the single line of the .pub file (or just "
            "\"ed25519:BASE64\")");
      }
    }
    if (absl::StrContains(comment, kPublicPrefix) ||
        absl::StrContains(comment, kPrivatePrefix)) {
      return absl::InvalidArgumentError(
          "public key: more than one key in one public_key value; give each "
          "key its own trust entry");
    }
    text = text.substr(0, space);
  }
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "public key is empty (expected \"ed25519:BASE64\" as in the .pub file "
        "written by hwcastctl keygen)");
  }
  if (!absl::ConsumePrefix(&text, kPublicPrefix)) {
    if (absl::StartsWith(text, kPrivatePrefix)) {
      return absl::InvalidArgumentError(
          "this is a PRIVATE key; use the public key from the .pub file (and "
          "consider this private key leaked)");
    }
    return absl::InvalidArgumentError(
        absl::StrCat("public key must start with \"", kPublicPrefix,
                     "\", got \"", text.substr(0, 16), "\""));
  }
  std::array<uint8_t, kEd25519PublicKeyBytes> bytes{};
  if (absl::Status s = FromBase64(text, bytes.data(), bytes.size()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("public key ", s.message()));
  }
  return FromBytes(bytes);
}

Ed25519PublicKey Ed25519PublicKey::FromBytes(
    const std::array<uint8_t, kEd25519PublicKeyBytes>& bytes) {
  (void)InitSodium();
  Ed25519PublicKey key;
  key.bytes_ = bytes;
  uint8_t hash[crypto_generichash_BYTES];
  static_assert(crypto_generichash_BYTES >= kKeyIdBytes);
  crypto_generichash(hash, sizeof(hash), bytes.data(), bytes.size(), nullptr,
                     0);
  key.key_id_.assign(reinterpret_cast<const char*>(hash), kKeyIdBytes);
  return key;
}

std::string Ed25519PublicKey::ToText() const {
  return absl::StrCat(kPublicPrefix, ToBase64(bytes_.data(), bytes_.size()));
}

std::string Ed25519PublicKey::KeyIdHex() const {
  return absl::BytesToHexString(key_id_);
}

bool Ed25519PublicKey::Verify(absl::string_view message,
                              absl::string_view signature) const {
  if (signature.size() != kEd25519SignatureBytes) return false;
  return crypto_sign_ed25519_verify_detached(
             reinterpret_cast<const unsigned char*>(signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size(), bytes_.data()) == 0;
}

// ---------------------------------------------------------------------------
// Ed25519PrivateKey

Ed25519PrivateKey::Ed25519PrivateKey(Ed25519PrivateKey&& other) noexcept
    : secret_(std::move(other.secret_)), public_key_(other.public_key_) {
  other.Wipe();
}

Ed25519PrivateKey& Ed25519PrivateKey::operator=(
    Ed25519PrivateKey&& other) noexcept {
  if (this != &other) {
    Wipe();
    secret_ = std::move(other.secret_);
    public_key_ = other.public_key_;
    other.Wipe();
  }
  return *this;
}

Ed25519PrivateKey::~Ed25519PrivateKey() { Wipe(); }

void Ed25519PrivateKey::Wipe() {
  if (!secret_.empty()) sodium_memzero(secret_.data(), secret_.size());
  secret_.clear();
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::Generate() {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  uint8_t seed[crypto_sign_ed25519_SEEDBYTES];
  randombytes_buf(seed, sizeof(seed));
  absl::StatusOr<Ed25519PrivateKey> key =
      FromSeed(absl::string_view(reinterpret_cast<char*>(seed), sizeof(seed)));
  sodium_memzero(seed, sizeof(seed));
  return key;
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromSeed(
    absl::string_view seed) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  if (seed.size() != crypto_sign_ed25519_SEEDBYTES) {
    return absl::InvalidArgumentError(
        absl::StrCat("private key seed is ", seed.size(), " bytes, expected ",
                     crypto_sign_ed25519_SEEDBYTES));
  }
  Ed25519PrivateKey key;
  key.secret_.assign(crypto_sign_ed25519_SECRETKEYBYTES, '\0');
  std::array<uint8_t, kEd25519PublicKeyBytes> pk{};
  crypto_sign_ed25519_seed_keypair(
      pk.data(), reinterpret_cast<unsigned char*>(key.secret_.data()),
      reinterpret_cast<const unsigned char*>(seed.data()));
  key.public_key_ = Ed25519PublicKey::FromBytes(pk);
  return key;
}

std::string Ed25519PrivateKey::Sign(absl::string_view message) const {
  std::string signature(kEd25519SignatureBytes, '\0');
  crypto_sign_ed25519_detached(
      reinterpret_cast<unsigned char*>(signature.data()), nullptr,
      reinterpret_cast<const unsigned char*>(message.data()), message.size(),
      reinterpret_cast<const unsigned char*>(secret_.data()));
  return signature;
}

std::string Ed25519PrivateKey::ToFileText() const {
  // libsodium's secret key is seed || public key.
  std::string seed_b64 =
      ToBase64(reinterpret_cast<const uint8_t*>(secret_.data()),
               crypto_sign_ed25519_SEEDBYTES);
  std::string text =
      absl::StrCat(kKeyFileHeader, "private_key: ", kPrivatePrefix, seed_b64,
                   "\npublic_key: ", public_key_.ToText(), "\n");
  sodium_memzero(seed_b64.data(), seed_b64.size());
  return text;
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::Load(
    const std::string& path) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  // Key files are tiny; anything large is not one.
  constexpr size_t kMaxKeyFileBytes = 64 * 1024;
  absl::StatusOr<std::string> read =
      ReadSecretFile(path, "signing key", kMaxKeyFileBytes);
  if (!read.ok()) {
    if (read.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(
          absl::StrCat(read.status().message(),
                       " (create one with: hwcastctl keygen --out NAME)"));
    }
    return read.status();
  }
  std::string text = *std::move(read);
  // Wipes the file's text whatever the outcome.
  struct Wiper {
    std::string* s;
    ~Wiper() { sodium_memzero(s->data(), s->size()); }
  } wiper{&text};

  auto bad = [&path](int line, absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, line > 0 ? absl::StrCat(":", line) : "", ": ", what));
  };
  int line_number = 0;
  int private_line = 0;
  int public_line = 0;
  absl::string_view private_value;
  absl::string_view public_value;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) {
      return bad(line_number, "expected \"private_key: ...\"");
    }
    const absl::string_view name =
        absl::StripAsciiWhitespace(line.substr(0, colon));
    const absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (name == "private_key") {
      if (private_line != 0) return bad(line_number, "private_key given twice");
      private_line = line_number;
      private_value = value;
    } else if (name == "public_key") {
      if (public_line != 0) return bad(line_number, "public_key given twice");
      public_line = line_number;
      public_value = value;
    } else {
      return bad(line_number,
                 absl::StrCat("unknown key '", name,
                              "' (expected private_key and public_key)"));
    }
  }
  if (private_line == 0) {
    return bad(0,
               "no private_key line; not a key file written by hwcastctl "
               "keygen (a .pub file holds only the public key)");
  }
  if (!absl::ConsumePrefix(&private_value, kPrivatePrefix)) {
    return bad(private_line, absl::StrCat("private_key must start with \"",
                                          kPrivatePrefix, "\""));
  }
  uint8_t seed[crypto_sign_ed25519_SEEDBYTES];
  if (absl::Status s = FromBase64(private_value, seed, sizeof(seed)); !s.ok()) {
    return bad(private_line, absl::StrCat("private_key ", s.message()));
  }
  absl::StatusOr<Ed25519PrivateKey> key =
      FromSeed(absl::string_view(reinterpret_cast<char*>(seed), sizeof(seed)));
  sodium_memzero(seed, sizeof(seed));
  if (!key.ok()) return bad(private_line, key.status().message());
  if (public_line != 0) {
    absl::StatusOr<Ed25519PublicKey> stated =
        Ed25519PublicKey::Parse(public_value);
    if (!stated.ok()) return bad(public_line, stated.status().message());
    if (stated->bytes() != key->public_key().bytes()) {
      return bad(public_line,
                 "public_key does not belong to private_key (file damaged or "
                 "edited?)");
    }
  }
  return key;
}

absl::Status Ed25519PrivateKey::Save(const std::string& path_prefix,
                                     absl::string_view comment) const {
  if (path_prefix.empty()) {
    return absl::InvalidArgumentError("key file name prefix is empty");
  }
  for (char c : comment) {
    if (absl::ascii_iscntrl(c)) {
      return absl::InvalidArgumentError(
          "key comment must be a single line without control characters");
    }
  }
  const std::string key_path = absl::StrCat(path_prefix, ".key");
  const std::string pub_path = absl::StrCat(path_prefix, ".pub");
  for (const std::string& path : {key_path, pub_path}) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists; not overwriting it"));
    }
  }
  std::string key_text = ToFileText();
  absl::Status status = WriteNewFile(key_path, key_text, 0600);
  sodium_memzero(key_text.data(), key_text.size());
  if (!status.ok()) return status;
  const std::string pub_text =
      absl::StrCat(public_key_.ToText(),
                   comment.empty() ? "" : absl::StrCat(" ", comment), "\n");
  status = WriteNewFile(pub_path, pub_text, 0644);
  if (!status.ok()) {
    ::unlink(key_path.c_str());
    return status;
  }
  return absl::OkStatus();
}

}  // namespace hwcast
