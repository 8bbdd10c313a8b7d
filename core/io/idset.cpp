#include "idset.h"

#include <QHashFunctions>

#include <algorithm>
#include <cmath>

namespace Sluice {

namespace {

constexpr std::size_t InitialSlots = 1024;
constexpr double MaxLoad = 0.8;
constexpr std::size_t FixedSeed = 0x5c1ce5eedULL; // stable across runs: no per-process random seed

} // namespace

std::uint64_t IdSet::hashOf(QStringView id)
{
    // The length goes into the seed: Qt 6.4's qHashBits gives "d" and "d\0" (any id and itself with
    // trailing NUL characters, which JSON can spell \u0000) the same hash, and the table keeps hashes
    // only, so they were taken for one id (found by tests/fuzz).
    const std::size_t seed = FixedSeed ^ (std::size_t(id.size()) * 0x9e3779b97f4a7c15ULL);
    const std::uint64_t h = qHashBits(id.data(), std::size_t(id.size()) * sizeof(QChar), seed);
    return h == 0 ? 1 : h;
}

std::size_t IdSet::home(std::uint64_t hash) const
{
    // Maps the hash onto [0, size) without a power-of-two size (Lemire's multiply-shift).
    return std::size_t((unsigned __int128)hash * m_slots.size() >> 64);
}

void IdSet::grow()
{
    rehash(std::max(InitialSlots, m_slots.size() + m_slots.size() / 2));
}

void IdSet::reserve(qint64 ids)
{
    const auto slots = std::size_t(std::ceil(double(std::max<qint64>(ids, 0)) / MaxLoad)) + 1;
    if (slots > m_slots.size()) {
        rehash(std::max(InitialSlots, slots));
    }
}

void IdSet::rehash(std::size_t slots)
{
    std::vector<Slot> old;
    old.swap(m_slots);
    m_slots.assign(slots, Slot{});
    for (const Slot &s : old) {
        if (s.hash == 0) {
            continue;
        }
        std::size_t i = home(s.hash);
        while (m_slots[i].hash != 0) {
            i = i + 1 == m_slots.size() ? 0 : i + 1;
        }
        m_slots[i] = s;
    }
}

qint64 IdSet::insert(QStringView id, qint64 line)
{
    if (m_slots.empty()) {
        grow();
    }
    const std::uint64_t hash = hashOf(id);
    const auto next = [this](std::size_t i) {
        return i + 1 == m_slots.size() ? 0 : i + 1;
    };
    std::size_t i = home(hash);
    while (m_slots[i].hash != 0) {
        if (m_slots[i].hash == hash) {
            return m_slots[i].line;
        }
        i = next(i);
    }
    // A new id: room is made only now, so a repeated id never grows the table.
    if (double(m_count + 1) > MaxLoad * double(m_slots.size())) {
        grow();
        for (i = home(hash); m_slots[i].hash != 0; i = next(i)) {
        }
    }
    m_slots[i].hash = hash;
    m_slots[i].line = std::uint32_t(std::clamp<qint64>(line, 1, UINT32_MAX));
    ++m_count;
    return 0;
}

} // namespace Sluice
