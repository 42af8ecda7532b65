// Structured logging. One named Logger per component; the level is checked before anything
// is formatted. Output is JSON lines (ts, level, logger, msg, service, env, version, then
// the call's fields) or human-readable text, chosen once at start by ConfigureLogging.
//
//   static const apmcov::Logger log("collector.sync");
//   log.Info("sync finished", {{"job_id", id}, {"pages", pages}});
//
// Thread-safe: each line is written with one write(2) call, so lines never interleave.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace apmcov {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };
enum class LogFormat { kJson, kText };

// Parses "debug", "info", "warn"/"warning", "error", "off" (case-insensitive).
bool ParseLogLevel(std::string_view text, LogLevel* out);
bool ParseLogFormat(std::string_view text, LogFormat* out);

struct LogIdentity {
  std::string service;  // DD_SERVICE
  std::string env;      // DD_ENV
  std::string version;  // DD_VERSION
};

struct LogOptions {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kJson;
  LogIdentity identity;
  int fd = 2;  // where lines go; stderr by default
};

// Sets the process-wide options. Call once from main() before starting threads.
void ConfigureLogging(const LogOptions& options);
const LogOptions& CurrentLogOptions();

// A value of a structured field.
using LogValue = std::variant<std::string_view, int64_t, uint64_t, double, bool>;

struct LogField {
  std::string_view key;
  LogValue value;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, int v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, long v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, long long v) : key(k), value(static_cast<int64_t>(v)) {}
  LogField(std::string_view k, unsigned v) : key(k), value(static_cast<uint64_t>(v)) {}
  LogField(std::string_view k, unsigned long v) : key(k), value(static_cast<uint64_t>(v)) {}
  LogField(std::string_view k, unsigned long long v) : key(k), value(static_cast<uint64_t>(v)) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
};

using LogFields = std::initializer_list<LogField>;

class Logger {
 public:
  explicit Logger(std::string name) : name_(std::move(name)) {}

  bool Enabled(LogLevel level) const;
  void Log(LogLevel level, std::string_view msg, LogFields fields = {}) const;
  void Debug(std::string_view msg, LogFields fields = {}) const {
    Log(LogLevel::kDebug, msg, fields);
  }
  void Info(std::string_view msg, LogFields fields = {}) const {
    Log(LogLevel::kInfo, msg, fields);
  }
  void Warn(std::string_view msg, LogFields fields = {}) const {
    Log(LogLevel::kWarn, msg, fields);
  }
  void Error(std::string_view msg, LogFields fields = {}) const {
    Log(LogLevel::kError, msg, fields);
  }

  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// Log correlation (design §12): the ids of the span active on the calling thread. libs/base
// knows nothing of spans; the tracer (libs/tracing's ActiveSpanScope) sets these while a span
// is active, and every line written meanwhile carries `dd.trace_id` (the low 64 bits of the
// trace id, decimal, as Datadog's log pipeline reads it) and `dd.span_id` (decimal), both as
// strings, so Datadog links the line to its trace. One thread-local pointer: reading it costs
// nothing when tracing is off.
struct LogSpanIds {
  uint64_t trace_id_low = 0;
  uint64_t span_id = 0;
};
// Makes `ids` (null: none) the calling thread's span ids and returns the previous ones (so
// scopes nest: set the previous value back when the scope ends). `ids` must stay valid while set.
const LogSpanIds* SetThreadLogSpan(const LogSpanIds* ids);
const LogSpanIds* ThreadLogSpan();

// Formats one line exactly as Logger::Log would write it (without the newline). Pure: the
// timestamp and the span ids (null: none) are passed in. Exposed for tests.
std::string FormatLogLine(const LogOptions& options, int64_t unix_nanos, LogLevel level,
                          std::string_view logger, std::string_view msg, LogFields fields,
                          const LogSpanIds* span = nullptr);

// Appends `text` to `out` as the inside of a JSON string (quotes not included).
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace apmcov
