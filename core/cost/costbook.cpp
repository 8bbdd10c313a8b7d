#include "costbook.h"

#include "io/tokenestimator.h"

#include <algorithm>

namespace Sluice {

using json = nlohmann::json;

namespace {

const Price *findModel(const QMap<QString, Price> &prices, const std::string &name)
{
    if (prices.isEmpty()) {
        return nullptr;
    }
    auto it = prices.constFind(QString::fromStdString(name));
    if (it == prices.cend()) {
        it = prices.constFind(QString::fromStdString(std::string(PriceTable::baseName(name))));
    }
    return it != prices.cend() ? &it.value() : nullptr;
}

/// The price of `name` at endpoint `e`: its price.models entry, its price, the table's, or none; the
/// output maximum from whichever of them knows it.
Price resolve(const EndpointConfig &e, const std::string &name, const PriceTable &table)
{
    const Price *own = name.empty() ? nullptr : findModel(e.modelPrices, name);
    const Price *listed = name.empty() ? nullptr : table.find(name);
    Price p;
    if (own && own->isPriced()) {
        p = *own;
    } else if (e.price.isPriced()) {
        p = e.price;
    } else if (listed) {
        p = *listed;
    }
    for (const Price *source : {own, listed, &e.price}) {
        if (p.maxOutputTokens <= 0 && source && source->maxOutputTokens > 0) {
            p.maxOutputTokens = source->maxOutputTokens;
        }
    }
    return p;
}

} // namespace

CostBook::CostBook(const ProjectConfig &project, const QString &modelOverride, const PriceTable &table)
    : m_endpoints(int(project.endpoints.size()))
{
    const auto addName = [this](const std::string &name) {
        if (!name.empty() && m_ids.emplace(name, int(m_names.size())).second) {
            m_names.push_back(name);
        }
    };
    for (const std::string &name : table.names()) {
        addName(name);
    }
    addName(modelOverride.toStdString());
    for (const EndpointConfig &e : project.endpoints) {
        addName(e.model.toStdString());
        for (auto it = e.modelPrices.cbegin(); it != e.modelPrices.cend(); ++it) {
            addName(it.key().toStdString());
        }
        m_ownModel.push_back(modelOverride.isEmpty() ? e.model : modelOverride);
        m_anthropic.push_back(e.provider == Provider::Anthropic);
        m_defaultMaxTokens.push_back(e.defaultMaxTokens);
    }
    m_prices.resize((m_names.size() + 2) * std::size_t(m_endpoints));
    for (int i = 0; i < m_endpoints; ++i) {
        const EndpointConfig &e = project.endpoints.at(i);
        m_prices[slot(i, Unknown)] = resolve(e, std::string(), table);
        m_prices[slot(i, Unnamed)] = resolve(e, m_ownModel[std::size_t(i)].toStdString(), table);
        for (int m = 0; m < int(m_names.size()); ++m) {
            m_prices[slot(i, m)] = resolve(e, m_names[std::size_t(m)], table);
        }
    }
}

int CostBook::modelId(std::string_view name) const
{
    if (name.empty()) {
        return Unnamed;
    }
    auto it = m_ids.find(name);
    if (it == m_ids.end()) {
        const std::string_view base = PriceTable::baseName(name);
        if (base.size() != name.size()) {
            it = m_ids.find(base);
        }
    }
    return it != m_ids.end() ? it->second : Unknown;
}

CostAsk CostBook::ask(const Request &request) const
{
    CostAsk a;
    a.resolved = true;
    a.inputTokens = TokenEstimator::promptTokensUpperBound(request.input);
    a.maxTokens = TokenEstimator::maxTokens(request.input);
    a.model = modelId(request.model());
    return a;
}

const Price &CostBook::price(int endpoint, int model) const
{
    if (endpoint < 0 || endpoint >= m_endpoints || model < Unknown || model >= int(m_names.size())) {
        return m_none;
    }
    return m_prices[slot(endpoint, model)];
}

double CostBook::outputCap(int endpoint, int model, double maxTokens) const
{
    const double modelMax = double(price(endpoint, model).maxOutputTokens);
    double cap = maxTokens;
    if (cap <= 0) {
        const bool anthropic = endpoint >= 0 && endpoint < m_endpoints && m_anthropic[std::size_t(endpoint)];
        cap = anthropic      ? double(m_defaultMaxTokens[std::size_t(endpoint)])
              : modelMax > 0 ? modelMax
                             : double(FallbackMaxOutputTokens);
    }
    return modelMax > 0 ? std::min(cap, modelMax) : cap;
}

double CostBook::worstUsd(int endpoint, const CostAsk &ask) const
{
    const Price &p = price(endpoint, ask.model);
    if (!p.isPriced()) {
        return 0;
    }
    return (ask.inputTokens * p.inputPerMtok +
            outputCap(endpoint, ask.model, ask.maxTokens) * p.outputPerMtok) /
           1e6;
}

double CostBook::costUsd(const Price &p, const Usage &u)
{
    if (u.isEmpty() && u.cachedInputTokens == 0 && u.cacheWriteTokens == 0) {
        return 0; // nothing used, nothing charged, priced or not
    }
    if (!p.isPriced()) {
        return -1;
    }
    const double uncached =
        double(std::max<qint64>(0, u.inputTokens - u.cachedInputTokens - u.cacheWriteTokens));
    return (uncached * p.inputPerMtok + double(u.cachedInputTokens) * p.cachedInputRate() +
            double(u.cacheWriteTokens) * p.cacheWriteRate() + double(u.outputTokens) * p.outputPerMtok) /
           1e6;
}

QString CostBook::modelName(int endpoint, int model) const
{
    if (model >= 0 && model < int(m_names.size())) {
        return QString::fromStdString(m_names[std::size_t(model)]);
    }
    if (model == Unnamed && endpoint >= 0 && endpoint < m_endpoints) {
        return m_ownModel[std::size_t(endpoint)];
    }
    return QString();
}

QStringList CostBook::unpricedEndpoints(const ProjectConfig &project) const
{
    QStringList out;
    for (int i = 0; i < m_endpoints && i < int(project.endpoints.size()); ++i) {
        const EndpointConfig &e = project.endpoints.at(i);
        if (e.weight > 0 && !isPriced(i, Unnamed)) {
            const QString model = modelName(i, Unnamed);
            out.append(QStringLiteral("%1 (%2)").arg(e.name, model.isEmpty()
                                                                 ? QStringLiteral("no model named")
                                                                 : QStringLiteral("model ") + model));
        }
    }
    return out;
}

} // namespace Sluice
