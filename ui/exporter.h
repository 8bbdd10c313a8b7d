#pragma once

#include "config/projectconfig.h"
#include "metrics/metrics.h"
#include "util/result.h"

#include <QImage>
#include <QString>

#include <vector>

namespace Sluice::Gui {

/// Writes what a run produced in the formats operators take elsewhere. Never writes an API key: keys
/// only ever live in environment variables or the keychain.
class Exporter
{
public:
    /// Results JSONL → CSV: custom_id, line, status_code, endpoint, attempts, latency_ms, model,
    /// input_tokens, output_tokens, content (first choice's message, or Anthropic text). RFC 4180 quoting.
    static Result<void> resultsToCsv(const QString &resultsJsonl, const QString &csvPath);
    /// Errors JSONL → CSV: custom_id, line, error_class, status, attempts, endpoint, error, input.
    static Result<void> errorsToCsv(const QString &errorsJsonl, const QString &csvPath);
    /// Copies a JSONL output as it is (results or errors).
    static Result<void> copyFile(const QString &from, const QString &to);
    /// A self-contained HTML report: the summary, the per-endpoint table (JMeter-style percentiles),
    /// errors by class, and the charts image embedded as a PNG data URI.
    static Result<void> htmlReport(const QString &path, const Sluice::MetricsSnapshot &summary,
                                   const Sluice::ProjectConfig &project, const QImage &charts,
                                   const QString &requestsPath);
    static Result<void> savePng(const QImage &image, const QString &path);
};

} // namespace Sluice::Gui
