#include "preflight.h"

#include "io/tokenestimator.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace Sluice {

PreflightReport Preflight::scan(const QString &path, const JsonlReader::Options &options,
                                const std::atomic_bool *cancel)
{
    PreflightReport report;
    report.path = path;
    JsonlReader reader(path, options);
    if (auto opened = reader.open(); !opened) {
        report.error = opened.error().message;
        return report;
    }
    report.fileSize = reader.fileSize();
    for (;;) {
        if (cancel && cancel->load(std::memory_order_relaxed)) {
            report.cancelled = true;
            break;
        }
        JsonlReader::Item item = reader.next();
        if (item.kind == JsonlReader::Item::Kind::End) {
            break;
        }
        if (item.kind == JsonlReader::Item::Kind::Invalid) {
            ++report.invalid;
            if (report.invalidLines.size() < PreflightReport::MaxListed) {
                report.invalidLines.append(std::move(item.error));
            }
            continue;
        }
        ++report.requests;
        ++report.formats[toString(item.request.format)];
        const double prompt = TokenEstimator::promptTokens(item.request.input);
        report.promptTokens += prompt;
        const double cap = TokenEstimator::maxTokens(item.request.input);
        report.maxOutputTokens += cap > 0 ? cap : TokenEstimator::DefaultOutputTokens;
        const std::string_view model = item.request.model();
        QString name = QString::fromUtf8(model.data(), qsizetype(model.size()));
        if (report.models.size() >= PreflightReport::MaxModels && !report.models.contains(name)) {
            name = QStringLiteral("(more models)"); // a file naming thousands of models: the rest together
        }
        ModelTally &tally = report.models[name];
        ++tally.requests;
        tally.promptTokens += prompt;
        tally.promptTokensBound += TokenEstimator::promptTokensUpperBound(item.request.input);
        if (cap > 0) {
            tally.cappedOutputTokens += cap;
        } else {
            ++tally.uncapped;
        }
    }
    if (!reader.readError().isEmpty()) {
        report.error = reader.readError();
    }
    return report;
}

double Preflight::predictSeconds(const PreflightReport &report, const ProjectConfig &project,
                                 double assumedLatencyS)
{
    if (report.requests == 0) {
        return 0;
    }
    constexpr double Unbounded = std::numeric_limits<double>::infinity();
    double requestRate = 0; // Σ of endpoint request rates (Unbounded if any endpoint is unlimited)
    double tokenRate = 0;
    double concurrency = 0;
    for (const EndpointConfig &e : project.endpoints) {
        if (e.weight <= 0) {
            continue;
        }
        requestRate += e.rpm > 0 ? e.rpm / 60.0 : Unbounded;
        tokenRate += e.tpm > 0 ? e.tpm / 60.0 : Unbounded;
        concurrency += e.maxInFlight;
    }
    if (project.limits.rps > 0) {
        requestRate = std::min(requestRate, project.limits.rps);
    }
    if (project.limits.tpm > 0) {
        tokenRate = std::min(tokenRate, project.limits.tpm / 60.0);
    }
    const double requests = double(report.requests);
    double seconds = requests / requestRate;
    seconds = std::max(seconds, (report.promptTokens + report.maxOutputTokens) / tokenRate);
    if (assumedLatencyS > 0 && concurrency > 0) {
        seconds = std::max(seconds, requests * assumedLatencyS / concurrency);
    }
    return std::isfinite(seconds) ? seconds : -1;
}

} // namespace Sluice
