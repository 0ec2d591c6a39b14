// -----------------------------------------------------------------------------
// File: eigen_views.h
// -----------------------------------------------------------------------------
//
// Internal: Eigen column-array views of tensor buffers, the one pair that the
// engine's accumulation and the op kernels share. Buffers come from the
// storage pool, which aligns them to 64 bytes, so the views may assume it.
//
// Example:
//
//   internal::ArrayMap<float>(dst, n) += internal::ConstArrayMap<float>(src, n);

#ifndef ACTGRAD_GRAPH_EIGEN_VIEWS_H_
#define ACTGRAD_GRAPH_EIGEN_VIEWS_H_

#include <Eigen/Core>

namespace actgrad::internal {

template <typename T>
using ArrayMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;
template <typename T>
using ConstArrayMap = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;

}  // namespace actgrad::internal

#endif  // ACTGRAD_GRAPH_EIGEN_VIEWS_H_
