#include "pg_util.h"

#include <exception>
#include <nlohmann/json.hpp>

#include "apmcov/base/status.h"
#include "apmcov/store/coverage_store.h"
#include "pg_params.h"

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
  } catch (const NulInParameter& e) {
    return RecordRejectedError(
        absl::StrCat(ctx, ": ", e.what(), ", which PostgreSQL text cannot store"), "22021");
  } catch (const pqxx::failure& e) {
    return absl::UnavailableError(absl::StrCat(ctx, ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(ctx, ": ", e.what()));
  }
}

std::string EpochMicros(std::string_view column) {
  return absl::StrCat("(extract(epoch from ", AbslView(column), ") * 1000000)::bigint");
}

std::vector<std::string> ParseJsonStringArray(const std::string& json) {
  std::vector<std::string> out;
  const auto parsed = nlohmann::json::parse(json);
  for (const auto& v : parsed) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace apmcov::store::internal
