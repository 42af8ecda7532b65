#include "apmcov/base/log.h"

#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "apmcov/base/status.h"

namespace apmcov {
namespace {

LogOptions& MutableOptions() {
  static LogOptions options;
  return options;
}

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
thread_local const LogSpanIds* t_log_span = nullptr;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
    case LogLevel::kOff:
      return "off";
  }
  return "info";
}

void AppendValue(std::string& out, const LogValue& value, bool json) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string_view>) {
          if (json) {
            out.push_back('"');
            AppendJsonEscaped(out, v);
            out.push_back('"');
          } else {
            bool quote = v.empty() || v.find_first_of(" =\"") != std::string_view::npos;
            if (quote) {
              out.push_back('"');
              AppendJsonEscaped(out, v);
              out.push_back('"');
            } else {
              out.append(v);
            }
          }
        } else if constexpr (std::is_same_v<T, bool>) {
          out.append(v ? "true" : "false");
        } else if constexpr (std::is_same_v<T, double>) {
          char buf[32];
          std::snprintf(buf, sizeof buf, "%.6g", v);
          out.append(buf);
        } else {
          absl::StrAppend(&out, v);
        }
      },
      value);
}

}  // namespace

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  std::string t = absl::AsciiStrToLower(AbslView(text));
  if (t == "debug" || t == "trace")
    *out = LogLevel::kDebug;
  else if (t == "info")
    *out = LogLevel::kInfo;
  else if (t == "warn" || t == "warning")
    *out = LogLevel::kWarn;
  else if (t == "error")
    *out = LogLevel::kError;
  else if (t == "off" || t == "none")
    *out = LogLevel::kOff;
  else
    return false;
  return true;
}

bool ParseLogFormat(std::string_view text, LogFormat* out) {
  std::string t = absl::AsciiStrToLower(AbslView(text));
  if (t == "json")
    *out = LogFormat::kJson;
  else if (t == "text")
    *out = LogFormat::kText;
  else
    return false;
  return true;
}

void ConfigureLogging(const LogOptions& options) {
  MutableOptions() = options;
  g_level.store(static_cast<int>(options.level));
}

const LogOptions& CurrentLogOptions() { return MutableOptions(); }

const LogSpanIds* SetThreadLogSpan(const LogSpanIds* ids) {
  const LogSpanIds* previous = t_log_span;
  t_log_span = ids;
  return previous;
}

const LogSpanIds* ThreadLogSpan() { return t_log_span; }

void AppendJsonEscaped(std::string& out, std::string_view text) {
  // Copies runs of plain characters at once: this is on ddsim's span-rendering hot path.
  static constexpr char kHex[] = "0123456789abcdef";
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + start, i - start);
    start = i + 1;
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(text.data() + start, text.size() - start);
}

std::string FormatLogLine(const LogOptions& options, int64_t unix_nanos, LogLevel level,
                          std::string_view logger, std::string_view msg, LogFields fields,
                          const LogSpanIds* span) {
  std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixNanos(unix_nanos),
                                    absl::UTCTimeZone());
  std::string out;
  out.reserve(160 + msg.size());
  if (options.format == LogFormat::kJson) {
    absl::StrAppend(&out, "{\"ts\":\"", ts, "\",\"level\":\"", AbslView(LevelName(level)),
                    "\",\"logger\":\"");
    AppendJsonEscaped(out, logger);
    out.append("\",\"msg\":\"");
    AppendJsonEscaped(out, msg);
    out.push_back('"');
    auto ident = [&](std::string_view key, const std::string& value) {
      if (value.empty()) return;
      absl::StrAppend(&out, ",\"", AbslView(key), "\":\"");
      AppendJsonEscaped(out, value);
      out.push_back('"');
    };
    ident("service", options.identity.service);
    ident("env", options.identity.env);
    ident("version", options.identity.version);
    if (span != nullptr && span->span_id != 0) {
      absl::StrAppend(&out, ",\"dd.trace_id\":\"", span->trace_id_low, "\",\"dd.span_id\":\"",
                      span->span_id, "\"");
    }
    for (const LogField& f : fields) {
      out.append(",\"");
      AppendJsonEscaped(out, f.key);
      out.append("\":");
      AppendValue(out, f.value, true);
    }
    out.push_back('}');
  } else {
    std::string upper = absl::AsciiStrToUpper(AbslView(LevelName(level)));
    absl::StrAppend(&out, ts, " ", upper, " [", AbslView(logger), "] ", AbslView(msg));
    if (span != nullptr && span->span_id != 0) {
      absl::StrAppend(&out, " dd.trace_id=", span->trace_id_low, " dd.span_id=", span->span_id);
    }
    for (const LogField& f : fields) {
      absl::StrAppend(&out, " ", AbslView(f.key), "=");
      AppendValue(out, f.value, false);
    }
  }
  return out;
}

bool Logger::Enabled(LogLevel level) const {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed) &&
         level != LogLevel::kOff;
}

void Logger::Log(LogLevel level, std::string_view msg, LogFields fields) const {
  if (!Enabled(level)) return;
  const LogOptions& options = CurrentLogOptions();
  int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  std::string line = FormatLogLine(options, now, level, name_, msg, fields, t_log_span);
  line.push_back('\n');
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(options.fd, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace apmcov
