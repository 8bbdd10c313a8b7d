#pragma once

#include "config/price.h"
#include "config/pricetable.h"
#include "config/projectconfig.h"
#include "io/request.h"
#include "net/provideradapter.h"

#include <QString>
#include <QStringList>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace Sluice {

/// What a request may cost, read once from its line (CostBook::ask): enough to price it at any endpoint
/// without looking at the line again.
struct CostAsk
{
    int model = -1;         ///< CostBook model id; CostBook::Unnamed or CostBook::Unknown otherwise
    double inputTokens = 0; ///< the most prompt tokens it can cost (TokenEstimator upper bound)
    double maxTokens = -1;  ///< its max_tokens (or max_completion_tokens...); -1 when it sets none
    bool resolved = false;  ///< filled in by ask()
};

/// Prices per endpoint and model, resolved once when the run starts, and the arithmetic of cost: the
/// worst case of a request before it is sent, the actual cost of a reply's usage.
///
/// The price of model M at endpoint E is the first of: E's price.models[M], E's price (every model),
/// the shipped table's M (see PriceTable for names), else "unpriced". A request that names no model
/// goes as --model, else E's model. Every model name the project or the table knows gets an id at
/// construction; ask() maps a line's model to its id with one hash lookup and no allocation, so
/// pricing a request costs a table read.
///
/// Output cap: the request's max_tokens (capped at the model's max_output_tokens); without one, an
/// Anthropic endpoint's default_max_tokens (it is sent), else the model's max_output_tokens, else
/// FallbackMaxOutputTokens.
class CostBook
{
public:
    static constexpr int Unnamed = -1; ///< the request names no model: each endpoint's own
    static constexpr int Unknown = -2; ///< a model neither the project nor the table prices
    static constexpr qint64 FallbackMaxOutputTokens = 32768;

    CostBook() = default;
    CostBook(const ProjectConfig &project, const QString &modelOverride,
             const PriceTable &table = PriceTable::shipped());

    int endpointCount() const { return m_endpoints; }
    /// The cost-relevant part of `request`.
    CostAsk ask(const Request &request) const;
    /// The model id of a model name (Unknown when nothing prices it, Unnamed for an empty name).
    int modelId(std::string_view name) const;

    const Price &price(int endpoint, int model) const;
    bool isPriced(int endpoint, int model) const { return price(endpoint, model).isPriced(); }
    /// Output tokens the request may be billed for at `endpoint`.
    double outputCap(int endpoint, int model, double maxTokens) const;
    /// The most `ask` can cost at `endpoint` (USD): its input bound at the input rate plus its output
    /// cap at the output rate; 0 when unpriced.
    double worstUsd(int endpoint, const CostAsk &ask) const;
    /// What `usage` cost at `endpoint` (USD); -1 when unpriced and something was used.
    double costUsd(int endpoint, int model, const Usage &usage) const
    {
        return costUsd(price(endpoint, model), usage);
    }
    /// `usage` at `price`: uncached input, cache reads and cache writes at their rates, plus output.
    static double costUsd(const Price &price, const Usage &usage);

    /// The model name a request of `model` goes as at `endpoint` ("" when none); for Unknown, "".
    QString modelName(int endpoint, int model) const;
    /// "endpoint (model)" for each enabled endpoint whose own model (what lines naming none go as) has no
    /// price.
    QStringList unpricedEndpoints(const ProjectConfig &project) const;

private:
    struct Hash
    {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::size_t slot(int endpoint, int model) const
    {
        return std::size_t(model + 2) * std::size_t(m_endpoints) + std::size_t(endpoint);
    }

    int m_endpoints = 0;
    std::vector<std::string> m_names;                                  ///< by model id
    std::unordered_map<std::string, int, Hash, std::equal_to<>> m_ids; ///< name -> model id
    std::vector<Price> m_prices;     ///< by slot(): rows Unknown, Unnamed, then the model ids
    std::vector<QString> m_ownModel; ///< per endpoint: what requests naming no model go as
    std::vector<bool> m_anthropic;
    std::vector<int> m_defaultMaxTokens;
    Price m_none;
};

} // namespace Sluice
