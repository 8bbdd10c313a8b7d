#include "pricetable.h"

#include <QFile>
#include <QLoggingCategory>

#include <cctype>
#include <cmath>

namespace Sluice {

Q_LOGGING_CATEGORY(lcPrices, "sluice.config.prices")

const char *shippedPricesJson(); // generated from resources/prices.json (shippedprices.cpp.in)

using json = nlohmann::json;

namespace {

Error priceError(const QString &message)
{
    return Error{Error::Code::InvalidConfig, message, 0};
}

bool allDigits(std::string_view s)
{
    for (const char c : s) {
        if (!std::isdigit(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return !s.empty();
}

const QStringList PriceKeys = {QStringLiteral("input_per_mtok"), QStringLiteral("cached_input_per_mtok"),
                               QStringLiteral("cache_write_per_mtok"), QStringLiteral("output_per_mtok"),
                               QStringLiteral("max_output_tokens")};

} // namespace

Result<Price> PriceTable::readPrice(const json &object, const QString &where, const QStringList &extraKeys)
{
    if (!object.is_object()) {
        return priceError(QStringLiteral("%1: expected a price object {\"input_per_mtok\", "
                                         "\"output_per_mtok\", ...}")
                              .arg(where));
    }
    Price price;
    for (auto it = object.begin(); it != object.end(); ++it) {
        const QString key = QString::fromStdString(it.key());
        if (extraKeys.contains(key)) {
            continue;
        }
        if (!PriceKeys.contains(key)) {
            return priceError(QStringLiteral("%1.%2: unknown key; known keys: %3")
                                  .arg(where, key, (PriceKeys + extraKeys).join(QStringLiteral(", "))));
        }
        const json &v = it.value();
        const double d = v.is_number() ? v.get<double>() : -1;
        if (key == QLatin1String("max_output_tokens")) {
            if (!v.is_number_integer() && !v.is_number_unsigned()) {
                return priceError(
                    QStringLiteral("%1.max_output_tokens: expected a whole number of tokens").arg(where));
            }
            if (d < 1 || d > 1e8) {
                return priceError(QStringLiteral("%1.max_output_tokens: %2 is out of range [1, 100000000]")
                                      .arg(where)
                                      .arg(d));
            }
            price.maxOutputTokens = qint64(d);
            continue;
        }
        if (!v.is_number() || !std::isfinite(d) || d < 0 || d > 1e6) {
            return priceError(
                QStringLiteral("%1.%2: expected USD per million tokens, a number in [0, 1000000]")
                    .arg(where, key));
        }
        if (key == QLatin1String("input_per_mtok")) {
            price.inputPerMtok = d;
        } else if (key == QLatin1String("cached_input_per_mtok")) {
            price.cachedInputPerMtok = d;
        } else if (key == QLatin1String("cache_write_per_mtok")) {
            price.cacheWritePerMtok = d;
        } else {
            price.outputPerMtok = d;
        }
    }
    const bool anyRate = price.inputPerMtok >= 0 || price.outputPerMtok >= 0 ||
                         price.cachedInputPerMtok >= 0 || price.cacheWritePerMtok >= 0;
    if (anyRate && !price.isPriced()) {
        return priceError(QStringLiteral("%1: give both input_per_mtok and output_per_mtok").arg(where));
    }
    return price;
}

std::string_view PriceTable::baseName(std::string_view model)
{
    const auto dash = model.rfind('-');
    if (dash == std::string_view::npos || dash == 0) {
        return model;
    }
    const std::string_view tail = model.substr(dash + 1);
    const std::string_view head = model.substr(0, dash);
    if (tail == "latest" || (allDigits(tail) && (tail.size() == 8 || tail.size() == 4))) {
        return head; // -latest, -20241022, -0613
    }
    // -YYYY-MM-DD
    if (model.size() > 11 && allDigits(tail) && tail.size() == 2) {
        const std::string_view date = model.substr(model.size() - 11);
        if (date[0] == '-' && date[5] == '-' && date[8] == '-' && allDigits(date.substr(1, 4)) &&
            allDigits(date.substr(6, 2))) {
            return model.substr(0, model.size() - 11);
        }
    }
    return model;
}

const Price *PriceTable::find(std::string_view model) const
{
    auto it = m_prices.find(model);
    if (it == m_prices.end()) {
        const std::string_view base = baseName(model);
        if (base.size() != model.size()) {
            it = m_prices.find(base);
        }
    }
    return it != m_prices.end() ? &it->second : nullptr;
}

std::vector<std::string> PriceTable::names() const
{
    std::vector<std::string> out;
    out.reserve(m_prices.size());
    for (const auto &[name, price] : m_prices) {
        Q_UNUSED(price);
        out.push_back(name);
    }
    return out;
}

Result<PriceTable> PriceTable::fromJson(const json &root, const QString &fileName)
{
    const auto models = root.is_object() ? root.find("models") : root.end();
    if (!root.is_object() || models == root.end() || !models->is_object()) {
        return priceError(
            QStringLiteral("%1: expected {\"written\", \"sources\", \"models\": {...}}").arg(fileName));
    }
    PriceTable table;
    if (const auto written = root.find("written"); written != root.end() && written->is_string()) {
        table.m_written = QString::fromStdString(written->get<std::string>());
    }
    if (const auto sources = root.find("sources"); sources != root.end() && sources->is_array()) {
        for (const json &s : *sources) {
            if (s.is_string()) {
                table.m_sources.append(QString::fromStdString(s.get<std::string>()));
            }
        }
    }
    for (auto it = models->begin(); it != models->end(); ++it) {
        const QString where = QStringLiteral("%1: models.%2").arg(fileName, QString::fromStdString(it.key()));
        auto price = readPrice(it.value(), where, {QStringLiteral("aliases")});
        if (!price) {
            return price.error();
        }
        if (!price->isPriced()) {
            return priceError(where + QStringLiteral(": give both input_per_mtok and output_per_mtok"));
        }
        table.m_prices[it.key()] = *price;
        if (const auto aliases = it->find("aliases"); aliases != it->end() && aliases->is_array()) {
            for (const json &alias : *aliases) {
                if (alias.is_string()) {
                    table.m_prices[alias.get<std::string>()] = *price;
                }
            }
        }
    }
    return table;
}

Result<PriceTable> PriceTable::load(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return Error{Error::Code::Io, QStringLiteral("%1: cannot open: %2").arg(path, file.errorString()), 0};
    }
    const QByteArray bytes = file.readAll();
    const json root = json::parse(bytes.constData(), bytes.constData() + bytes.size(), nullptr, false);
    if (root.is_discarded()) {
        return priceError(QStringLiteral("%1: invalid JSON").arg(path));
    }
    return fromJson(root, path);
}

const PriceTable &PriceTable::shipped()
{
    static const PriceTable table = [] {
        const json root = json::parse(shippedPricesJson(), nullptr, false);
        auto parsed = fromJson(root, QStringLiteral("prices.json"));
        if (!parsed) {
            qCWarning(lcPrices).noquote()
                << "the built-in price table is unusable:" << parsed.error().message;
            return PriceTable();
        }
        return std::move(parsed).value();
    }();
    return table;
}

} // namespace Sluice
