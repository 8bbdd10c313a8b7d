#pragma once

#include "config/price.h"
#include "util/result.h"

#include <QString>
#include <QStringList>

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace Sluice {

/// The prices of models by name: the table shipped with Sluice (resources/prices.json, built in), dated
/// and with its sources. A project's `price` blocks override it (CostBook).
///
/// A name is looked up as written, then (when it has none) without a snapshot suffix: "-2024-08-06",
/// "-20241022", "-0613" or "-latest", so dated snapshots and aliases find their model's entry. An entry
/// may list more names ("aliases"). A snapshot priced differently has an entry of its own.
class PriceTable
{
public:
    /// The built-in table (parsed once, on first use; empty with a warning if it could not be read).
    static const PriceTable &shipped();
    /// A table in the shipped format: {"written", "sources", "models": {name: price}}.
    static Result<PriceTable> fromJson(const nlohmann::json &root, const QString &fileName);
    static Result<PriceTable> load(const QString &path);

    /// Reads one price object ({"input_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok",
    /// "output_per_mtok", "max_output_tokens"}); keys in `extraKeys` are skipped, others are errors naming
    /// `where`. Input and output rates go together; rates are at most 1e6 USD per million tokens.
    static Result<Price> readPrice(const nlohmann::json &object, const QString &where,
                                   const QStringList &extraKeys = {});
    /// `model` without a snapshot suffix, or `model` itself when it has none.
    static std::string_view baseName(std::string_view model);

    /// The price of `model`; nullptr when the table has none.
    const Price *find(std::string_view model) const;
    /// The date the table was written (ISO 8601), and where its prices came from.
    QString writtenOn() const { return m_written; }
    QStringList sources() const { return m_sources; }
    /// Every name the table knows (aliases included).
    std::vector<std::string> names() const;
    bool isEmpty() const { return m_prices.empty(); }

private:
    struct Hash
    {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };

    QString m_written;
    QStringList m_sources;
    std::unordered_map<std::string, Price, Hash, std::equal_to<>> m_prices;
};

} // namespace Sluice
