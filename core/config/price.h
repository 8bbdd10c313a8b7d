#pragma once

#include <QtGlobal>

namespace Sluice {

/// What a model costs, in USD per million tokens: an entry of the shipped table (PriceTable) or of a
/// project's `price` block. A price needs both the input and the output rate; the cache rates default
/// to the input rate.
struct Price
{
    double inputPerMtok = -1;       ///< uncached input; -1 = not given
    double cachedInputPerMtok = -1; ///< input read from the prompt cache; -1 = the input rate
    double cacheWritePerMtok = -1;  ///< input written to the prompt cache (Anthropic); -1 = the input rate
    double outputPerMtok = -1;      ///< -1 = not given
    qint64 maxOutputTokens = 0;     ///< the most output tokens the model writes in one reply; 0 = not known

    bool isPriced() const { return inputPerMtok >= 0 && outputPerMtok >= 0; }
    double cachedInputRate() const { return cachedInputPerMtok >= 0 ? cachedInputPerMtok : inputPerMtok; }
    double cacheWriteRate() const { return cacheWritePerMtok >= 0 ? cacheWritePerMtok : inputPerMtok; }
    bool operator==(const Price &o) const = default;
};

} // namespace Sluice
