#include "apmcov/base/config.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "apmcov/base/status.h"

namespace apmcov {
namespace {

std::string NormaliseFlag(std::string_view flag) {
  std::string out(flag);
  for (char& c : out) {
    if (c == '_') c = '-';
    c = absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  return out;
}

std::string JoinViews(std::initializer_list<std::string_view> items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

}  // namespace

ConfigReader::EnvLookup ConfigReader::ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::string ConfigReader::FlagName(std::string_view var) { return NormaliseFlag(var); }

ConfigReader::ConfigReader(int argc, const char* const* argv, EnvLookup env)
    : env_(std::move(env)) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.substr(0, 2) != "--") {
      positional_.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(2);
    std::string name;
    std::string value;
    if (size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = NormaliseFlag(arg.substr(0, eq));
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < argc && std::string_view(argv[i + 1]).substr(0, 2) != "--") {
      name = NormaliseFlag(arg);
      value = argv[++i];
    } else {
      name = NormaliseFlag(arg);
      value = "true";  // a bare boolean flag
    }
    flags_[name] = value;
    used_flags_[name] = false;
  }
}

std::optional<std::string> ConfigReader::Lookup(std::string_view var) {
  std::string flag = FlagName(var);
  if (auto it = flags_.find(flag); it != flags_.end()) {
    used_flags_[flag] = true;
    return it->second;
  }
  return env_(std::string(var));
}

bool ConfigReader::IsSet(std::string_view var) const {
  if (flags_.count(FlagName(var)) > 0) return true;
  return env_(std::string(var)).has_value();
}

void ConfigReader::Record(std::string_view var, const std::string& value, Secret secret) {
  effective_[std::string(var)] =
      secret == Secret::kYes ? (value.empty() ? "" : "<redacted>") : value;
}

void ConfigReader::AddError(std::string_view var, std::string_view message) {
  errors_.push_back(absl::StrCat(AbslView(var), ": ", AbslView(message)));
}

std::string ConfigReader::String(std::string_view var, std::string_view def, Secret secret) {
  std::string value = Lookup(var).value_or(std::string(def));
  Record(var, value, secret);
  return value;
}

std::string ConfigReader::Enum(std::string_view var, std::string_view def,
                               std::initializer_list<std::string_view> allowed) {
  std::string value = Lookup(var).value_or(std::string(def));
  Record(var, value, Secret::kNo);
  for (std::string_view a : allowed) {
    if (value == a) return value;
  }
  AddError(var, absl::StrCat("\"", value, "\" is not one of ", JoinViews(allowed)));
  return std::string(def);
}

int64_t ConfigReader::Int(std::string_view var, int64_t def, int64_t min, int64_t max) {
  std::optional<std::string> raw = Lookup(var);
  if (!raw) {
    Record(var, absl::StrCat(def), Secret::kNo);
    return def;
  }
  Record(var, *raw, Secret::kNo);
  int64_t v = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(*raw), &v)) {
    AddError(var, absl::StrCat("\"", *raw, "\" is not an integer"));
    return def;
  }
  if (v < min || v > max) {
    AddError(var, absl::StrCat(v, " is out of range [", min, ", ", max, "]"));
    return def;
  }
  return v;
}

double ConfigReader::Double(std::string_view var, double def, double min, double max) {
  std::optional<std::string> raw = Lookup(var);
  if (!raw) {
    Record(var, absl::StrCat(def), Secret::kNo);
    return def;
  }
  Record(var, *raw, Secret::kNo);
  double v = 0;
  if (!absl::SimpleAtod(absl::StripAsciiWhitespace(*raw), &v)) {
    AddError(var, absl::StrCat("\"", *raw, "\" is not a number"));
    return def;
  }
  if (v < min || v > max) {
    AddError(var, absl::StrCat(v, " is out of range [", min, ", ", max, "]"));
    return def;
  }
  return v;
}

bool ConfigReader::Bool(std::string_view var, bool def) {
  std::optional<std::string> raw = Lookup(var);
  if (!raw) {
    Record(var, def ? "true" : "false", Secret::kNo);
    return def;
  }
  Record(var, *raw, Secret::kNo);
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(*raw));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  AddError(var, absl::StrCat("\"", *raw, "\" is not a boolean (true/false)"));
  return def;
}

std::vector<std::string> ConfigReader::List(std::string_view var, std::string_view def) {
  std::string raw = Lookup(var).value_or(std::string(def));
  Record(var, raw, Secret::kNo);
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(raw, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

absl::Status ConfigReader::Finish() const {
  std::vector<std::string> problems = errors_;
  for (const auto& [flag, used] : used_flags_) {
    if (!used) problems.push_back(absl::StrCat("--", flag, ": unknown flag"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid configuration: ", absl::StrJoin(problems, "; ")));
}

}  // namespace apmcov
