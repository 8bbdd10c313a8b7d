#include "costestimate.h"

#include "cost/costbook.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace Sluice {

namespace {

/// The rates an estimate uses for one model at one enabled endpoint.
struct Rates
{
    int endpoint = 0;
    double share = 0;
    double input = 0, output = 0;
    double uncappedOutput = 0; ///< output tokens billed for a line without max_tokens
};

} // namespace

CostEstimate CostEstimate::compute(const PreflightReport &report, const ProjectConfig &project,
                                   const QString &modelOverride)
{
    CostEstimate est;
    est.budgetUsd = project.limits.maxCostUsd;
    const CostBook book(project, modelOverride);
    double totalWeight = 0;
    for (const EndpointConfig &e : project.endpoints) {
        totalWeight += std::max(0.0, e.weight);
    }
    std::vector<int> enabled;
    for (int i = 0; i < int(project.endpoints.size()); ++i) {
        const EndpointConfig &e = project.endpoints.at(i);
        if (e.weight > 0) {
            enabled.push_back(i);
            est.endpoints.append({e.name, e.weight / totalWeight, 0, 0});
        }
    }
    for (auto it = report.models.cbegin(); it != report.models.cend(); ++it) {
        const ModelTally &t = it.value();
        const int model = book.modelId(it.key().toStdString());
        std::vector<Rates> rates;
        bool priced = true;
        for (std::size_t k = 0; k < enabled.size(); ++k) {
            const int i = enabled[k];
            const Price &p = book.price(i, model);
            if (!p.isPriced()) {
                priced = false;
                const QString name = it.key().isEmpty() ? book.modelName(i, model) : it.key();
                const QString pair = QStringLiteral("%1 at %2")
                                         .arg(name.isEmpty() ? QStringLiteral("(no model)") : name,
                                              project.endpoints.at(i).name);
                if (!est.unpriced.contains(pair)) {
                    est.unpriced.append(pair);
                }
                continue;
            }
            rates.push_back({int(k), est.endpoints[qsizetype(k)].share, p.inputPerMtok / 1e6,
                             p.outputPerMtok / 1e6, book.outputCap(i, model, -1)});
        }
        if (!priced || rates.empty()) {
            est.unpricedLines += t.requests;
            continue;
        }
        est.pricedLines += t.requests;
        double minIn = std::numeric_limits<double>::infinity();
        double maxIn = 0, maxOut = 0, maxUncapped = 0;
        for (const Rates &r : rates) {
            minIn = std::min(minIn, r.input);
            maxIn = std::max(maxIn, r.input);
            maxOut = std::max(maxOut, r.output);
            maxUncapped = std::max(maxUncapped, r.uncappedOutput * r.output);
            Endpoint &e = est.endpoints[qsizetype(r.endpoint)];
            e.lowUsd += r.share * t.promptTokens * r.input;
            e.highUsd +=
                r.share * (t.promptTokensBound * r.input +
                           (t.cappedOutputTokens + double(t.uncapped) * r.uncappedOutput) * r.output);
        }
        est.lowUsd += t.promptTokens * minIn;
        est.highUsd +=
            t.promptTokensBound * maxIn + t.cappedOutputTokens * maxOut + double(t.uncapped) * maxUncapped;
    }
    return est;
}

QString CostEstimate::formatUsd(double usd)
{
    if (!(usd > 0)) {
        return QStringLiteral("$0");
    }
    const int decimals = std::clamp(2 - int(std::floor(std::log10(usd))), 2, 8);
    return QStringLiteral("$") + QString::number(usd, 'f', decimals);
}

QStringList CostEstimate::describe() const
{
    QStringList out;
    out.append(QStringLiteral("Estimated cost: %1 to %2 for %3 priced lines (input estimated; output from "
                              "none to each line's max_tokens, or the model's maximum)")
                   .arg(formatUsd(lowUsd), formatUsd(highUsd))
                   .arg(pricedLines));
    for (const Endpoint &e : endpoints) {
        out.append(QStringLiteral("  %1: %2% of the lines by weight, %3 to %4")
                       .arg(e.name)
                       .arg(e.share * 100.0, 0, 'f', 0)
                       .arg(formatUsd(e.lowUsd), formatUsd(e.highUsd)));
    }
    if (unpricedLines > 0 || !unpriced.isEmpty()) {
        out.append(QStringLiteral("Unpriced: %1 lines go to models without a price (%2); they are not in the "
                                  "estimate. Give a \"price\" block in the project to count them.")
                       .arg(unpricedLines)
                       .arg(unpriced.join(QStringLiteral(", "))));
    }
    if (budgetUsd > 0) {
        out.append(highUsd <= budgetUsd && unpricedLines == 0
                       ? QStringLiteral("Budget %1: the whole run fits even at the high end.")
                             .arg(formatUsd(budgetUsd))
                   : lowUsd > budgetUsd
                       ? QStringLiteral("Budget %1: the run will stop at the budget before its end.")
                             .arg(formatUsd(budgetUsd))
                       : QStringLiteral("Budget %1: the run may stop at the budget before its end.")
                             .arg(formatUsd(budgetUsd)));
    }
    return out;
}

nlohmann::json CostEstimate::toJson() const
{
    using json = nlohmann::json;
    json eps = json::array();
    for (const Endpoint &e : endpoints) {
        eps.push_back({{"name", e.name.toStdString()},
                       {"share", e.share},
                       {"low_usd", e.lowUsd},
                       {"high_usd", e.highUsd}});
    }
    json names = json::array();
    for (const QString &pair : unpriced) {
        names.push_back(pair.toStdString());
    }
    return {{"low_usd", lowUsd},
            {"high_usd", highUsd},
            {"priced_lines", pricedLines},
            {"unpriced_lines", unpricedLines},
            {"unpriced", std::move(names)},
            {"budget_usd", budgetUsd > 0 ? json(budgetUsd) : json(nullptr)},
            {"endpoints", std::move(eps)}};
}

} // namespace Sluice
