#pragma once

#include "config/projectconfig.h"
#include "io/jsonlreader.h"

#include <QList>
#include <QMap>
#include <QString>

#include <atomic>

namespace Sluice {

/// The lines of a request file that name one model (or none), for cost estimates (CostEstimate).
struct ModelTally
{
    qint64 requests = 0;
    double promptTokens = 0;       ///< tokenizer-free estimate (TokenEstimator::promptTokens)
    double promptTokensBound = 0;  ///< the most they can cost (TokenEstimator::promptTokensUpperBound)
    double cappedOutputTokens = 0; ///< sum of max_tokens of the lines that set one
    qint64 uncapped = 0;           ///< lines that set no max_tokens
};

/// What a request file holds, read once before a run: line counts, formats, the invalid lines (with
/// their line numbers and reasons), and estimated tokens.
struct PreflightReport
{
    QString path;
    QString error; ///< set when the file could not be read at all
    qint64 fileSize = 0;
    qint64 requests = 0;              ///< valid lines
    qint64 invalid = 0;               ///< lines that would end in the errors file before any send
    QMap<QString, qint64> formats;    ///< InputFormat name → lines
    QList<InputError> invalidLines;   ///< the first `MaxListed` of them
    double promptTokens = 0;          ///< tokenizer-free estimate, all requests
    double maxOutputTokens = 0;       ///< sum of max_tokens (requests without one count DefaultOutputTokens)
    QMap<QString, ModelTally> models; ///< by the model the lines name ("" = none: the endpoint's own)
    bool cancelled = false;

    static constexpr int MaxListed = 1000;
    static constexpr int MaxModels = 1000;
};

/// Reads a whole request file (streaming, like a run) and predicts how long a run would take.
class Preflight
{
public:
    /// Scans `path`; `cancel` (optional) is polled so a GUI can abandon a scan of a huge file.
    static PreflightReport scan(const QString &path, const JsonlReader::Options &options = {},
                                const std::atomic_bool *cancel = nullptr);
    /// Seconds a run of `report` would take under `project`'s limits: the slowest of the request budget
    /// (global rps, or the sum of the endpoints' rpm), the token budget (tpm, with max_tokens as the
    /// output bound) and concurrency (Σ max_in_flight per `assumedLatencyS`). -1 when unbounded.
    static double predictSeconds(const PreflightReport &report, const ProjectConfig &project,
                                 double assumedLatencyS = 1.0);
};

} // namespace Sluice
