#include "pg_util.h"

#include <exception>
#include <nlohmann/json.hpp>

#include "apmcov/base/status.h"
#include "apmcov/store/coverage_store.h"

namespace apmcov::store::internal {

absl::Status StatusFromCurrentException(std::string_view what) {
  const std::string ctx(what);
  try {
    throw;
  } catch (const pqxx::broken_connection& e) {
    // libpq reports a malformed connection string as a failed connection: retrying cannot fix
    // it, so it is InvalidArgument (the service stops at start with the message).
    const std::string_view msg = e.what();
    if (msg.find("invalid URI") != std::string_view::npos ||
        msg.find("invalid connection option") != std::string_view::npos ||
        msg.find("missing \"=\"") != std::string_view::npos ||
        msg.find("invalid sslmode") != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(ctx, ": DATABASE_URL is not a valid connection string: ", e.what()));
    }
    return absl::UnavailableError(absl::StrCat(ctx, ": cannot reach PostgreSQL: ", e.what()));
  } catch (const pqxx::in_doubt_error& e) {
    return absl::UnavailableError(absl::StrCat(ctx, ": commit outcome unknown: ", e.what()));
  } catch (const pqxx::transaction_rollback& e) {
    return absl::UnavailableError(absl::StrCat(ctx, ": transaction rolled back: ", e.what()));
  } catch (const pqxx::sql_error& e) {
    const std::string state = e.sqlstate();
    if (state == "23505") {  // unique_violation: a concurrent writer of the same keys
      return absl::AbortedError(absl::StrCat(ctx, ": concurrent write, retry: ", e.what()));
    }
    // 08: connection exception, 57P0x: server shutting down, 53: insufficient resources.
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state.rfind("53", 0) == 0) {
      return absl::UnavailableError(
          absl::StrCat(ctx, ": PostgreSQL unavailable (", state, "): ", e.what()));
    }
    // The data's fault, so the same batch fails every time: 22 data exception (22P05 a \u0000
    // in jsonb, 22021 bad encoding, 22008 timestamp out of range...), 23 integrity constraint
    // (unique_violation aside: that is a concurrent writer), 54000 a value too large for an
    // index row.
    if (state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0 || state == "54000") {
      return RecordRejectedError(
          absl::StrCat(ctx, ": PostgreSQL rejected the data (SQLSTATE ", state, "): ", e.what()),
          state);
    }
    return absl::InternalError(absl::StrCat(ctx, ": SQL error ", state, ": ", e.what()));
  } catch (const pqxx::failure& e) {
    return absl::UnavailableError(absl::StrCat(ctx, ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(ctx, ": ", e.what()));
  }
}

std::string Text(pqxx::connection_base& c, std::string_view s) { return c.quote(std::string(s)); }

std::string TextArray(pqxx::connection_base& c, const std::vector<std::string>& values) {
  if (values.empty()) return "'{}'::text[]";
  std::string out = "ARRAY[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += c.quote(values[i]);
  }
  out += "]::text[]";
  return out;
}

std::string Timestamp(int64_t unix_nanos) {
  // Floor division keeps times before 1970 exact too.
  int64_t micros = unix_nanos / 1000;
  if (unix_nanos % 1000 < 0) --micros;
  return "(timestamptz 'epoch' + " + std::to_string(micros) + " * interval '1 microsecond')";
}

std::string EpochMicros(std::string_view column) {
  return "(extract(epoch from " + std::string(column) + ") * 1000000)::bigint";
}

std::vector<std::string> ParseJsonStringArray(const std::string& json) {
  std::vector<std::string> out;
  const auto parsed = nlohmann::json::parse(json);
  for (const auto& v : parsed) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace apmcov::store::internal
