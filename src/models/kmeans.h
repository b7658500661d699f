#pragma once
// k-means clustering: Lloyd's algorithm from k-means++ seeding (Arthur & Vassilvitskii 2007).
// The self-conditioned DCGAN (Liu et al. 2020) conditions its networks on each training
// image's cluster, as a conditional GAN does on its label, without using any label.
#include <torch/torch.h>

namespace trilemma {

/// What fit_kmeans found.
struct KMeansFit {
  torch::Tensor centroids;    ///< K×D float32: the mean of each cluster's points
  torch::Tensor assignments;  ///< N int64: each point's nearest centroid
  int iterations = 0;         ///< Lloyd iterations run
  bool converged = false;     ///< whether the assignments stopped changing
};

/// K clusters of N×D points (N ≥ K; UserError otherwise), seeded by k-means++ with the
/// global generator, then Lloyd iterations until no point changes cluster or after
/// `max_iterations`. A cluster left empty keeps its centroid.
KMeansFit fit_kmeans(const torch::Tensor& points, int64_t k, int max_iterations = 100);

/// The nearest of the K×D centroids (squared Euclidean distance) to each of the N×D points:
/// N int64.
torch::Tensor nearest_centroid(const torch::Tensor& points, const torch::Tensor& centroids);

}  // namespace trilemma
