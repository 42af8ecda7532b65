#include "apmcov/base/config.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

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

// The whole file, one trailing newline ("\n" or "\r\n") removed; nullopt with `error` set
// when it cannot be read.
std::optional<std::string> ReadSecretFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    *error = "read error";
    return std::nullopt;
  }
  std::string value = content.str();
  if (!value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  return value;
}

}  // namespace

std::string RedactUrlUserInfo(std::string_view value) {
  const size_t scheme_end = value.find("://");
  if (scheme_end == std::string_view::npos) return std::string(value);
  const size_t authority = scheme_end + 3;
  const size_t authority_end = value.find_first_of("/?#", authority);
  const std::string_view host_part =
      value.substr(authority, authority_end == std::string_view::npos ? std::string_view::npos
                                                                      : authority_end - authority);
  const size_t at = host_part.rfind('@');
  if (at == std::string_view::npos) return std::string(value);
  return absl::StrCat(AbslView(value.substr(0, authority)), "***",
                      AbslView(value.substr(authority + at)));
}

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
  return env_(std::string(var)).has_value() || env_(absl::StrCat(AbslView(var), "_FILE"));
}

std::optional<std::string> ConfigReader::LookupSecret(std::string_view var) {
  const std::string flag = FlagName(var);
  const std::string file_var = absl::StrCat(AbslView(var), "_FILE");
  if (auto it = flags_.find(flag); it != flags_.end()) {
    used_flags_[flag] = true;  // reported below, not also as an unknown flag
    AddError(var, absl::StrCat("is a secret and cannot be given as --", flag,
                               " (every user of the machine can read a command line): set the "
                               "environment variable ",
                               AbslView(var), ", or ", file_var, " to a file that holds it"));
  }
  if (auto it = flags_.find(FlagName(file_var)); it != flags_.end()) {
    used_flags_[FlagName(file_var)] = true;
    AddError(file_var, "is read from the environment only");
  }
  std::optional<std::string> value = env_(std::string(var));
  std::optional<std::string> path = env_(file_var);
  if (!path) return value;
  if (value) {
    AddError(var, absl::StrCat("is set both directly and through ", file_var, ": set only one"));
    return value;
  }
  std::string error;
  std::optional<std::string> from_file = ReadSecretFile(*path, &error);
  if (!from_file) {
    AddError(file_var, absl::StrCat("cannot read \"", *path, "\": ", error));
    return std::nullopt;
  }
  return from_file;
}

void ConfigReader::Record(std::string_view var, const std::string& value, Secret secret) {
  effective_[std::string(var)] =
      secret != Secret::kNo ? (value.empty() ? "" : "<redacted>") : RedactUrlUserInfo(value);
}

void ConfigReader::AddError(std::string_view var, std::string_view message) {
  errors_.push_back(absl::StrCat(AbslView(var), ": ", AbslView(message)));
}

void ConfigReader::Describe(std::string_view var, std::string default_text,
                            std::string constraint) {
  for (const VarHelp& h : help_) {
    if (h.var == var) return;
  }
  help_.push_back({std::string(var), std::move(default_text), std::move(constraint)});
}

bool ConfigReader::HelpRequested() const {
  if (flags_.count("help") > 0) return true;
  for (const std::string& p : positional_) {
    if (p == "-h") return true;
  }
  return false;
}

std::string ConfigReader::Usage(std::string_view program, std::string_view summary) const {
  std::string out =
      absl::StrCat("Usage: ", AbslView(program), " [--flag value | --flag=value]...\n");
  if (!summary.empty()) absl::StrAppend(&out, "\n", AbslView(summary), "\n");
  absl::StrAppend(&out,
                  "\nEvery option is also an environment variable (the flag wins). Options:\n");
  for (const VarHelp& h : help_) {
    absl::StrAppend(&out, "  --", FlagName(h.var), "  (", h.var, ")\n      ");
    if (!h.constraint.empty()) absl::StrAppend(&out, h.constraint, "; ");
    absl::StrAppend(&out, h.default_text.empty() ? "no default" : "default " + h.default_text,
                    "\n");
  }
  return out;
}

std::string ConfigReader::String(std::string_view var, std::string_view def, Secret secret) {
  Describe(var, def.empty() ? "" : absl::StrCat("\"", AbslView(def), "\""),
           secret == Secret::kYes ? absl::StrCat("secret, from the environment or ", AbslView(var),
                                                 "_FILE only (never a flag, never logged)")
           : secret == Secret::kSimulated ? "secret (never logged)"
                                          : "");
  std::string value =
      (secret == Secret::kYes ? LookupSecret(var) : Lookup(var)).value_or(std::string(def));
  Record(var, value, secret);
  return value;
}

std::string ConfigReader::Enum(std::string_view var, std::string_view def,
                               std::initializer_list<std::string_view> allowed) {
  Describe(var, std::string(def), "one of " + JoinViews(allowed));
  std::string value = Lookup(var).value_or(std::string(def));
  Record(var, value, Secret::kNo);
  for (std::string_view a : allowed) {
    if (value == a) return value;
  }
  AddError(var, absl::StrCat("\"", value, "\" is not one of ", JoinViews(allowed)));
  return std::string(def);
}

int64_t ConfigReader::Int(std::string_view var, int64_t def, int64_t min, int64_t max) {
  Describe(var, absl::StrCat(def), absl::StrCat("integer in [", min, ", ", max, "]"));
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
  Describe(var, absl::StrCat(def), absl::StrCat("number in [", min, ", ", max, "]"));
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
  Describe(var, def ? "true" : "false", "boolean");
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
  Describe(var, def.empty() ? "" : absl::StrCat("\"", AbslView(def), "\""), "comma-separated list");
  std::string raw = Lookup(var).value_or(std::string(def));
  Record(var, raw, Secret::kNo);
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(raw, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (!part.empty()) out.emplace_back(part);
  }
  return out;
}

bool PrintUsageIfRequested(const ConfigReader& reader, std::string_view program,
                           std::string_view summary) {
  if (!reader.HelpRequested()) return false;
  std::fputs(reader.Usage(program, summary).c_str(), stdout);
  std::fflush(stdout);
  return true;
}

absl::Status ConfigReader::Finish() const {
  std::vector<std::string> problems = errors_;
  for (const auto& [flag, used] : used_flags_) {
    if (!used && flag != "help") problems.push_back(absl::StrCat("--", flag, ": unknown flag"));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid configuration: ", absl::StrJoin(problems, "; ")));
}

}  // namespace apmcov
