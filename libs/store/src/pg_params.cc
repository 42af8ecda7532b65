#include "pg_params.h"

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"

namespace apmcov::store::internal {

void ArrayLiteral::Next() {
  if (size_++ > 0) text_ += ',';
}

ArrayLiteral& ArrayLiteral::Text(std::string_view s) {
  Next();
  text_.reserve(text_.size() + s.size() + 2);
  text_ += '"';
  for (const char ch : s) {
    if (ch == '\0') throw NulInParameter();
    if (ch == '"' || ch == '\\') text_ += '\\';
    text_ += ch;
  }
  text_ += '"';
  return *this;
}

ArrayLiteral& ArrayLiteral::OptText(const std::optional<std::string>& s) {
  return s ? Text(*s) : Null();
}

ArrayLiteral& ArrayLiteral::Null() {
  Next();
  text_ += "NULL";
  return *this;
}

ArrayLiteral& ArrayLiteral::Int(int64_t v) {
  Next();
  absl::StrAppend(&text_, v);
  return *this;
}

ArrayLiteral& ArrayLiteral::OptInt(const std::optional<int64_t>& v) { return v ? Int(*v) : Null(); }

ArrayLiteral& ArrayLiteral::Uint(uint64_t v) {
  Next();
  absl::StrAppend(&text_, v);
  return *this;
}

ArrayLiteral& ArrayLiteral::Bool(bool v) {
  Next();
  text_ += v ? 't' : 'f';
  return *this;
}

ArrayLiteral& ArrayLiteral::TextList(const std::vector<std::string>& values) {
  return Text(TextArrayParam(values));
}

std::string TextArrayParam(const std::vector<std::string>& values) {
  ArrayLiteral a;
  for (const std::string& v : values) a.Text(v);
  return a.Finish();
}

int64_t MicrosParam(int64_t unix_nanos) {
  int64_t micros = unix_nanos / 1000;
  if (unix_nanos % 1000 < 0) --micros;
  return micros;
}

std::optional<int64_t> MicrosParam(const std::optional<int64_t>& unix_nanos) {
  if (!unix_nanos) return std::nullopt;
  return MicrosParam(*unix_nanos);
}

std::string TimestampOf(std::string_view micros_expr) {
  return absl::StrCat("(timestamptz 'epoch' + (", AbslView(micros_expr),
                      ")::bigint * interval '1 microsecond')");
}

pqxx::result ExecColumns(pqxx::transaction_base& tx, const std::string& sql,
                         const std::vector<ArrayLiteral>& columns) {
  std::vector<std::string> params;
  params.reserve(columns.size());
  for (const ArrayLiteral& c : columns) params.push_back(c.Finish());
  return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params));
}

}  // namespace apmcov::store::internal
