// Bound parameters for the PostgreSQL adapters: every value reaches the server as a parameter
// of PQexecParams (libpqxx exec_params), never as SQL text. libpqxx 6 converts scalars only,
// so a list, or one column of a multi-row write, travels as the text of a PostgreSQL array
// literal: that text is the parameter's VALUE (the server's array_in parses it), so nothing in
// it can be read as SQL. Multi-row writes unnest one array parameter per column:
//   INSERT INTO t (a, b) SELECT u.a, u.b FROM unnest($1::text[], $2::bigint[]) AS u(a, b) ...
// A column that holds a list per row (services.languages, broken_traces.services...) is a
// text[] parameter whose elements are themselves array literals, cast back per row
// (u.languages::text[]). Private to the library.
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace apmcov::store::internal {

// Rows per statement of a multi-row write.
inline constexpr size_t kRowsPerStatement = 1000;

// Thrown by ArrayLiteral::Text for a NUL character, which neither PostgreSQL text nor a libpq
// parameter (a C string) can carry: StatusFromCurrentException makes it RecordRejected
// (SQLSTATE 22021, what the server says of a NUL byte). The stores drop NULs before they build
// parameters (validate.h), so this is the last line, never the way a record is refused.
class NulInParameter : public std::invalid_argument {
 public:
  NulInParameter() : std::invalid_argument("a text value holds a NUL character") {}
};

// The text of a one-dimensional array literal, built element by element. Text elements are
// always double-quoted with `"` and `\` backslash-escaped, so braces, commas, quotes,
// whitespace, the word NULL and empty strings stay what they are; bytes are copied as they
// are (the server checks their encoding: invalid UTF-8 is SQLSTATE 22021, the record's fault);
// a NUL throws NulInParameter.
class ArrayLiteral {
 public:
  ArrayLiteral& Text(std::string_view s);
  ArrayLiteral& OptText(const std::optional<std::string>& s);
  ArrayLiteral& Null();
  ArrayLiteral& Int(int64_t v);
  ArrayLiteral& OptInt(const std::optional<int64_t>& v);
  ArrayLiteral& Uint(uint64_t v);
  ArrayLiteral& Bool(bool v);
  // One element holding the literal of `values` (cast back with ::text[] in SQL).
  ArrayLiteral& TextList(const std::vector<std::string>& values);

  size_t size() const { return size_; }
  // "{...}": the parameter value.
  std::string Finish() const { return text_ + '}'; }

 private:
  void Next();
  std::string text_ = "{";
  size_t size_ = 0;
};

// The array literal of a list of strings (`{"a","b"}`).
std::string TextArrayParam(const std::vector<std::string>& values);

// Unix nanoseconds as the microseconds a timestamp parameter carries: the floor, so times
// before 1970 are exact too (the database keeps microseconds).
int64_t MicrosParam(int64_t unix_nanos);
std::optional<int64_t> MicrosParam(const std::optional<int64_t>& unix_nanos);

// SQL (not a value): the timestamptz of a bigint expression of Unix microseconds, e.g.
// TimestampOf("$2") or TimestampOf("u.first_seen").
std::string TimestampOf(std::string_view micros_expr);

// Runs `sql`, whose parameters $1..$n are the n column arrays, once per kRowsPerStatement
// rows of `rows`; fill(row, columns) appends one element to each column. QueryRows hands each
// row every statement returns to each(const pqxx::row&).
pqxx::result ExecColumns(pqxx::transaction_base& tx, const std::string& sql,
                         const std::vector<ArrayLiteral>& columns);
template <typename Range, typename Fill, typename Each>
void QueryRows(pqxx::transaction_base& tx, const std::string& sql, size_t ncolumns,
               const Range& rows, Fill&& fill, Each&& each) {
  std::vector<ArrayLiteral> columns(ncolumns);
  size_t n = 0;
  auto run = [&] {
    for (const pqxx::row& r : ExecColumns(tx, sql, columns)) each(r);
  };
  for (const auto& row : rows) {
    fill(row, columns);
    if (++n == kRowsPerStatement) {
      run();
      columns.assign(ncolumns, ArrayLiteral());
      n = 0;
    }
  }
  if (n > 0) run();
}
template <typename Range, typename Fill>
void ExecRows(pqxx::transaction_base& tx, const std::string& sql, size_t ncolumns,
              const Range& rows, Fill&& fill) {
  QueryRows(tx, sql, ncolumns, rows, std::forward<Fill>(fill), [](const pqxx::row&) {});
}

}  // namespace apmcov::store::internal
