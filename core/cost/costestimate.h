#pragma once

#include "config/projectconfig.h"
#include "io/preflight.h"

#include <QList>
#include <QString>
#include <QStringList>

#include <nlohmann/json.hpp>

namespace Sluice {

/// What a run of a request file would cost, before anything is sent (`--dry-run`, the desktop app's
/// preflight): a range, because the output is only known afterwards.
///
/// Low: every line's estimated input (TokenEstimator::promptTokens) at the cheapest enabled endpoint's
/// input rate, and no output. High: every line's input bound (TokenEstimator::promptTokensUpperBound,
/// what a budget reserves) and its output cap (max_tokens, else the model's maximum; Anthropic
/// endpoints: default_max_tokens) at the dearest rates. Whatever the routing, a run's actual cost lies
/// between the two unless the prompt cache makes input cheaper than its rate. Per endpoint: its share
/// of the lines by weight, priced at its own rates. Lines whose model has no price at some enabled
/// endpoint are counted apart and left out of the sums.
struct CostEstimate
{
    struct Endpoint
    {
        QString name;
        double share = 0; ///< of the lines, by weight (0..1)
        double lowUsd = 0, highUsd = 0;
    };

    double lowUsd = 0, highUsd = 0;
    QList<Endpoint> endpoints; ///< the enabled ones
    qint64 pricedLines = 0;
    qint64 unpricedLines = 0;
    QStringList unpriced; ///< "model at endpoint" pairs without a price
    double budgetUsd = 0; ///< the run's budget, for the verdict (0 = none)

    static CostEstimate compute(const PreflightReport &report, const ProjectConfig &project,
                                const QString &modelOverride);
    /// "$0.0123" with precision that suits the amount.
    static QString formatUsd(double usd);
    /// The estimate as lines for the operator (CLI and desktop app).
    QStringList describe() const;
    /// {"low_usd", "high_usd", "priced_lines", "unpriced_lines", "unpriced", "budget_usd", "endpoints":
    /// [{"name", "share", "low_usd", "high_usd"}]} (`run --dry-run --summary`).
    nlohmann::json toJson() const;
};

} // namespace Sluice
