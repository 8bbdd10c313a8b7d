#pragma once

#include <QtGlobal>

#include <vector>

namespace Sluice {

/// What an endpoint can do for the pick at hand.
enum class Availability {
    Ready,       ///< can take a request now
    Busy,        ///< healthy, but every connection is taken: its turn waits for a reply
    Unavailable, ///< out of budget this moment, cooling down: its turn goes to another endpoint
};

/// Smooth weighted round-robin (the algorithm nginx uses for upstreams): over any run of picks, each
/// endpoint gets its weight's share, interleaved rather than in blocks (weights 5:1:1 give
/// a a b a c a a, not a a a a a b c).
///
/// When the endpoint whose turn it is is Busy (all its connections taken), pick() returns -1 and
/// nobody else takes its turn: max_in_flight is back-pressure, not a reason to shift traffic, so the
/// configured shares hold even when one endpoint is slower. An Unavailable endpoint (no budget this
/// millisecond, cooling down after a 429) is skipped, but keeps earning credit up to one round's worth
/// (the sum of all weights), so a short stall does not cost it its share and a long one cannot build
/// up a flood. A weight of 0 disables an endpoint. Weights can change at any time.
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

    /// `availability(index)` says what each endpoint can do now. Returns the index to send to, or -1
    /// when no request should be sent now.
    template<typename AvailabilityOf>
    int pick(AvailabilityOf &&availability)
    {
        double round = 0;
        int best = -1;
        for (int i = 0; i < count(); ++i) {
            Entry &e = m_entries[std::size_t(i)];
            round += e.weight;
            e.state = e.weight > 0 ? availability(i) : Availability::Unavailable;
            if (e.state != Availability::Unavailable &&
                (best < 0 || e.current + e.weight > m_entries[std::size_t(best)].current +
                                                        m_entries[std::size_t(best)].weight)) {
                best = i;
            }
        }
        if (best < 0 || m_entries[std::size_t(best)].state == Availability::Busy) {
            return -1; // nothing handed out, nobody earns credit
        }
        double total = 0;
        for (Entry &e : m_entries) {
            if (e.weight <= 0 || (e.state == Availability::Unavailable && e.current >= round)) {
                continue;
            }
            e.current += e.weight;
            total += e.weight;
        }
        m_entries[std::size_t(best)].current -= total;
        return best;
    }

private:
    struct Entry
    {
        double weight = 1;
        double current = 0;
        Availability state = Availability::Unavailable;
    };
    std::vector<Entry> m_entries;
};

} // namespace Sluice
