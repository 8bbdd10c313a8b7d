#pragma once

#include <QtGlobal>

#include <cstdint>
#include <utility>
#include <vector>

namespace Sluice {

/// A set of input line numbers (1-based), one bit per line: 10,000,000 lines cost 1.25 MB.
/// Used for the lines a run has finished (the journal's done-set) and the lines to run again.
class LineSet
{
public:
    void insert(qint64 line)
    {
        if (line <= 0) {
            return;
        }
        const std::size_t word = std::size_t(line) / 64;
        if (word >= m_bits.size()) {
            m_bits.resize(std::max(word + 1, m_bits.size() * 2), 0);
        }
        const std::uint64_t bit = std::uint64_t(1) << (line % 64);
        m_count += (m_bits[word] & bit) ? 0 : 1;
        m_bits[word] |= bit;
    }

    void erase(qint64 line)
    {
        if (!contains(line)) {
            return;
        }
        m_bits[std::size_t(line) / 64] &= ~(std::uint64_t(1) << (line % 64));
        --m_count;
    }

    bool contains(qint64 line) const
    {
        if (line <= 0) {
            return false;
        }
        const std::size_t word = std::size_t(line) / 64;
        return word < m_bits.size() && (m_bits[word] >> (line % 64)) & 1;
    }

    qint64 size() const { return m_count; }
    bool isEmpty() const { return m_count == 0; }

    /// Inclusive [first, last] runs of consecutive lines, ascending: how the journal writes a set.
    std::vector<std::pair<qint64, qint64>> ranges() const
    {
        std::vector<std::pair<qint64, qint64>> out;
        const qint64 end = qint64(m_bits.size()) * 64;
        for (qint64 line = 1; line < end; ++line) {
            if (!contains(line)) {
                continue;
            }
            const qint64 first = line;
            while (line + 1 < end && contains(line + 1)) {
                ++line;
            }
            out.emplace_back(first, line);
        }
        return out;
    }

private:
    std::vector<std::uint64_t> m_bits;
    qint64 m_count = 0;
};

} // namespace Sluice
