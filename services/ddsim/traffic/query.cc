#include "ddsim/traffic/query.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "apmcov/base/status.h"
#include "ddsim/world/cat.h"

namespace apmcov::ddsim {

struct SpanQuery::Node {
  enum Type { kAll, kAnd, kOr, kNot, kTerm } type = kAll;
  std::vector<std::shared_ptr<const Node>> children;
  // kTerm:
  SpanField field = SpanField::kUnknown;
  std::vector<std::string> values;  // alternatives (OR), may hold '*' wildcards
  enum Cmp { kEq, kGt, kGe, kLt, kLe, kRange } cmp = kEq;
  double lo = 0, hi = 0;
  std::string free_text;  // bare word: matched against resource_name
};

namespace {

using Node = SpanQuery::Node;
using NodeP = std::shared_ptr<const Node>;

bool Glob(std::string_view pat, std::string_view s) {
  // Iterative '*' matcher.
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == s[i]) {
      ++p, ++i;
    } else if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

std::optional<double> ToNumber(std::string_view s) {
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

class Parser {
 public:
  explicit Parser(std::string_view text) { Tokenize(text); }

  absl::StatusOr<NodeP> ParseAll() {
    if (toks_.empty()) return std::make_shared<Node>();
    APMCOV_ASSIGN_OR_RETURN(NodeP n, ParseOr());
    if (pos_ != toks_.size()) {
      return absl::InvalidArgumentError(
          Cat("unexpected '", toks_[pos_], "' in query at token ", pos_ + 1));
    }
    return n;
  }

 private:
  void Tokenize(std::string_view t) {
    size_t i = 0;
    while (i < t.size()) {
      const char c = t[i];
      if (c == ' ' || c == '\t' || c == '\n') {
        ++i;
      } else if (c == '(' || c == ')') {
        toks_.emplace_back(1, c);
        ++i;
      } else {
        std::string tok;
        while (i < t.size() && t[i] != ' ' && t[i] != '\t' && t[i] != '(' && t[i] != ')') {
          if (t[i] == '"') {
            ++i;
            while (i < t.size() && t[i] != '"') tok += t[i++];
            if (i < t.size()) ++i;
          } else {
            tok += t[i++];
          }
        }
        toks_.push_back(std::move(tok));
      }
    }
  }

  bool Peek(std::string_view s) const { return pos_ < toks_.size() && toks_[pos_] == s; }

  absl::StatusOr<NodeP> ParseOr() {
    APMCOV_ASSIGN_OR_RETURN(NodeP first, ParseAnd());
    if (!Peek("OR")) return first;
    auto n = std::make_shared<Node>();
    n->type = Node::kOr;
    n->children.push_back(first);
    while (Peek("OR")) {
      ++pos_;
      APMCOV_ASSIGN_OR_RETURN(NodeP next, ParseAnd());
      n->children.push_back(next);
    }
    return NodeP(n);
  }

  absl::StatusOr<NodeP> ParseAnd() {
    APMCOV_ASSIGN_OR_RETURN(NodeP first, ParseUnary());
    auto n = std::make_shared<Node>();
    n->type = Node::kAnd;
    n->children.push_back(first);
    while (pos_ < toks_.size() && !Peek("OR") && !Peek(")")) {
      if (Peek("AND")) ++pos_;
      APMCOV_ASSIGN_OR_RETURN(NodeP next, ParseUnary());
      n->children.push_back(next);
    }
    if (n->children.size() == 1) return first;
    return NodeP(n);
  }

  absl::StatusOr<NodeP> ParseUnary() {
    if (pos_ >= toks_.size())
      return absl::InvalidArgumentError("query ends where a term was expected");
    if (Peek("NOT") || Peek("-")) {
      ++pos_;
      APMCOV_ASSIGN_OR_RETURN(NodeP inner, ParseUnary());
      auto n = std::make_shared<Node>();
      n->type = Node::kNot;
      n->children.push_back(inner);
      return NodeP(n);
    }
    if (Peek("(")) {
      ++pos_;
      APMCOV_ASSIGN_OR_RETURN(NodeP inner, ParseOr());
      if (!Peek(")")) return absl::InvalidArgumentError("missing ')' in query");
      ++pos_;
      return inner;
    }
    if (Peek(")")) return absl::InvalidArgumentError("unbalanced ')' in query");
    std::string tok = toks_[pos_++];
    if (tok.size() > 1 && tok[0] == '-') {
      --pos_;
      toks_[pos_] = tok.substr(1);
      APMCOV_ASSIGN_OR_RETURN(NodeP inner, ParseUnary());
      auto n = std::make_shared<Node>();
      n->type = Node::kNot;
      n->children.push_back(inner);
      return NodeP(n);
    }
    return ParseTerm(tok);
  }

  absl::StatusOr<NodeP> ParseTerm(const std::string& tok) {
    auto n = std::make_shared<Node>();
    if (tok == "*") return NodeP(n);
    const size_t colon = tok.find(':');
    if (colon == std::string::npos) {
      n->type = Node::kTerm;
      n->field = SpanField::kResourceName;
      n->free_text = tok;
      return NodeP(n);
    }
    n->type = Node::kTerm;
    n->field = ParseSpanField(std::string_view(tok).substr(0, colon));
    std::string value = tok.substr(colon + 1);
    if (value.empty()) {
      if (!Peek("(")) {
        return absl::InvalidArgumentError(Cat("missing value after '", tok, "' in query"));
      }
      ++pos_;
      while (!Peek(")")) {
        if (pos_ >= toks_.size())
          return absl::InvalidArgumentError("missing ')' in query value group");
        if (!Peek("OR")) n->values.push_back(toks_[pos_]);
        ++pos_;
      }
      ++pos_;
      if (n->values.empty())
        return absl::InvalidArgumentError(Cat("empty value group after '", tok, "'"));
      return NodeP(n);
    }
    if (value[0] == '[') {
      std::string lo = value.substr(1);
      if (!Peek("TO") || pos_ + 1 >= toks_.size()) {
        return absl::InvalidArgumentError(Cat("range after '", tok, "' needs 'TO'"));
      }
      std::string hi = toks_[pos_ + 1];
      pos_ += 2;
      if (hi.empty() || hi.back() != ']')
        return absl::InvalidArgumentError("range must end with ']'");
      hi.pop_back();
      auto l = ToNumber(lo), h = ToNumber(hi);
      if (!l || !h)
        return absl::InvalidArgumentError(Cat("range bounds must be numbers: ", lo, " TO ", hi));
      n->cmp = Node::kRange;
      n->lo = *l;
      n->hi = *h;
      return NodeP(n);
    }
    if (value[0] == '>' || value[0] == '<') {
      const bool eq = value.size() > 1 && value[1] == '=';
      auto v = ToNumber(std::string_view(value).substr(eq ? 2 : 1));
      if (!v) return absl::InvalidArgumentError(Cat("comparison needs a number: ", value));
      n->cmp = value[0] == '>' ? (eq ? Node::kGe : Node::kGt) : (eq ? Node::kLe : Node::kLt);
      n->lo = *v;
      return NodeP(n);
    }
    n->values.push_back(value);
    return NodeP(n);
  }

  std::vector<std::string> toks_;
  size_t pos_ = 0;
};

// `value(field, scratch, &out)` gives a span's field, as SpanFieldValue() does.
template <typename FieldValue>
bool Eval(const Node& n, const FieldValue& value, std::string& scratch) {
  switch (n.type) {
    case Node::kAll:
      return true;
    case Node::kAnd:
      for (const auto& c : n.children) {
        if (!Eval(*c, value, scratch)) return false;
      }
      return true;
    case Node::kOr:
      for (const auto& c : n.children) {
        if (Eval(*c, value, scratch)) return true;
      }
      return false;
    case Node::kNot:
      return !Eval(*n.children[0], value, scratch);
    case Node::kTerm:
      break;
  }
  std::string_view v;
  if (n.field == SpanField::kUnknown || !value(n.field, scratch, &v)) return false;
  if (!n.free_text.empty()) return v.find(n.free_text) != std::string_view::npos;
  if (n.cmp != Node::kEq) {
    auto x = ToNumber(v);
    if (!x) return false;
    switch (n.cmp) {
      case Node::kGt:
        return *x > n.lo;
      case Node::kGe:
        return *x >= n.lo;
      case Node::kLt:
        return *x < n.lo;
      case Node::kLe:
        return *x <= n.lo;
      case Node::kRange:
        return *x >= n.lo && *x <= n.hi;
      default:
        return false;
    }
  }
  for (const auto& pat : n.values) {
    if (pat.find('*') == std::string::npos ? pat == v : Glob(pat, v)) return true;
  }
  return false;
}

void FindTraceId(const NodeP& n, std::optional<uint64_t>* out) {
  if (n->type == Node::kTerm && n->field == SpanField::kTraceId && n->cmp == Node::kEq &&
      n->values.size() == 1 && n->values[0].find('*') == std::string::npos) {
    uint64_t v = 0;
    const std::string& s = n->values[0];
    auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size()) *out = v;
  } else if (n->type == Node::kAnd) {
    for (const auto& c : n->children) FindTraceId(c, out);
  }
}

}  // namespace

absl::StatusOr<SpanQuery> SpanQuery::Parse(std::string_view text) {
  Parser p(text);
  APMCOV_ASSIGN_OR_RETURN(NodeP root, p.ParseAll());
  SpanQuery q;
  q.root_ = root;
  FindTraceId(root, &q.trace_id_);
  return q;
}

bool SpanQuery::match_all() const { return root_ == nullptr || root_->type == Node::kAll; }

bool SpanQuery::Matches(const World& world, const Span& span) const {
  if (root_ == nullptr) return true;
  thread_local std::string scratch;
  return Eval(
      *root_,
      [&](SpanField f, std::string& sc, std::string_view* out) {
        return SpanFieldValue(world, span, f, sc, out);
      },
      scratch);
}

bool SpanQuery::MatchesFields(FieldLookup lookup) const {
  if (root_ == nullptr) return true;
  thread_local std::string scratch;
  return Eval(*root_, lookup, scratch);
}

}  // namespace apmcov::ddsim
