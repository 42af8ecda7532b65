#include "ddsim/http/responses.h"

#include "ddsim/http/json_writer.h"
#include "ddsim/world/cat.h"
#include "nlohmann/json.hpp"

namespace apmcov::ddsim {

using ojson = nlohmann::ordered_json;
using nlohmann::json;

const std::string* HttpRequest::Query(const std::string& name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return &v;
  }
  return nullptr;
}

const std::string* HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? nullptr : &it->second;
}

HttpResponse Legacy(int status, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::string(kJson);
  r.body = json{{"errors", {std::string(message)}}}.dump();
  return r;
}

namespace {

std::string_view TitleFor(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 422:
      return "Generic Error";
    case 429:
      return "Too Many Requests";
    default:
      return "Error";
  }
}

}  // namespace

HttpResponse JsonApiError(int status, std::string_view detail, std::string_view parameter) {
  ojson item;
  if (status != 422) item["status"] = std::to_string(status);
  item["title"] = std::string(TitleFor(status));
  item["detail"] = std::string(detail);
  if (!parameter.empty()) item["source"] = {{"parameter", std::string(parameter)}};
  HttpResponse r;
  r.status = status;
  r.content_type = std::string(kJsonApi);
  r.body = ojson{{"errors", ojson::array({item})}}.dump();
  return r;
}

std::string RequestId(uint64_t seq) {
  std::string raw = Cat("ddsim-request-", seq);
  return Cat("pddv1", Base64Encode(raw));
}

std::string EntityUuid(const std::string& id) {
  return Cat(id.substr(0, 8), "-", id.substr(8, 4), "-4", id.substr(13, 3), "-a", id.substr(17, 3),
             "-", id.substr(20, 12));
}

}  // namespace apmcov::ddsim
