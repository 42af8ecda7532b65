// The exporter contract against the in-memory fake.
#include "apmcov/tracing/memory_exporter.h"

#include "exporter_contract.h"

namespace apmcov::tracing::contract {
namespace {

struct MemoryBackend {
  static constexpr const char* kName = "memory";

  std::unique_ptr<TraceExporter> NewExporter(size_t max_queued_spans,
                                             std::shared_ptr<ExporterMetrics> metrics) {
    auto exporter = std::make_unique<InMemoryExporter>(max_queued_spans, std::move(metrics));
    last_ = exporter.get();
    return exporter;
  }
  std::vector<TraceChunk> Delivered() { return last_->Received(); }
  void FailNext(int count) { last_->FailNextFlushes(count); }
  void Block(bool blocked) { last_->BlockDelivery(blocked); }

  InMemoryExporter* last_ = nullptr;
};

using Backends = ::testing::Types<MemoryBackend>;
INSTANTIATE_TYPED_TEST_SUITE_P(Memory, ExporterContractTest, Backends);

}  // namespace
}  // namespace apmcov::tracing::contract
