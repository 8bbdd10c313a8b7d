#pragma once

#include <QtGlobal>

#include <vector>

namespace Sluice {

/// Smooth weighted round-robin (the algorithm nginx uses for upstreams): over any run of picks, each
/// endpoint gets its weight's share, interleaved rather than in blocks (weights 5:1:1 give
/// a a b a c a a, not a a a a a b c). An endpoint that is not eligible for a pick (no budget this
/// millisecond, no free connection, cooling down) keeps earning credit, up to one round's worth (the sum
/// of all weights), so a short stall does not cost it its share; a long one cannot build up a flood.
/// A weight of 0 disables an endpoint. Weights can change at any time, taking effect on the next pick.
class Balancer
{
public:
    void setCount(int count) { m_entries.resize(std::size_t(count)); }
    int count() const { return int(m_entries.size()); }
    void setWeight(int index, double weight)
    {
        m_entries.at(std::size_t(index)).weight = weight > 0 ? weight : 0;
    }
    double weight(int index) const { return m_entries.at(std::size_t(index)).weight; }

    /// Picks among the indices for which `eligible(index)` is true; -1 when none is.
    template<typename Eligible>
    int pick(Eligible &&eligible)
    {
        double round = 0;
        int best = -1;
        for (int i = 0; i < count(); ++i) {
            Entry &e = m_entries[std::size_t(i)];
            e.eligible = e.weight > 0 && eligible(i);
            round += e.weight;
            if (e.eligible && (best < 0 || e.current > m_entries[std::size_t(best)].current)) {
                best = i;
            }
        }
        if (best < 0) {
            return -1; // nothing handed out, nobody earns credit
        }
        double total = 0;
        best = -1;
        for (int i = 0; i < count(); ++i) {
            Entry &e = m_entries[std::size_t(i)];
            if (e.weight <= 0 || (!e.eligible && e.current >= round)) {
                continue;
            }
            e.current += e.weight;
            total += e.weight;
            if (e.eligible && (best < 0 || e.current > m_entries[std::size_t(best)].current)) {
                best = i;
            }
        }
        m_entries[std::size_t(best)].current -= total;
        return best;
    }

private:
    struct Entry
    {
        double weight = 1;
        double current = 0;
        bool eligible = false;
    };
    std::vector<Entry> m_entries;
};

} // namespace Sluice
