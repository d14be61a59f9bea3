# Fit a softmax-gated multinomial-logit mixture of experts with R's flexmix.
#
# Usage: Rscript flexmix_fit.R DATA.csv K TOL MAX_ITER [START.csv]
# DATA.csv has feature columns x1..xd and the label column y; START.csv (no
# header) holds an n x K matrix of initial posterior probabilities, the
# responsibilities at the common start of the benchmark. Prints one line:
# loglik n_iter seconds converged (seconds of the flexmix call alone).
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
control <- list(
  tolerance = as.numeric(args[3]),
  iter.max = as.integer(args[4]),
  minprior = 0,  # keep every component: the same model as the other fitters
  verbose = 0
)
data$y <- factor(data$y)
features <- setdiff(names(data), "y")
experts <- as.formula(paste("y ~", paste(features, collapse = " + ")))
gate <- as.formula(paste("~", paste(features, collapse = " + ")))
cluster <- if (length(args) >= 5) as.matrix(read.csv(args[5], header = FALSE)) else NULL
started <- proc.time()[["elapsed"]]
fit <- if (is.null(cluster)) {
  flexmix(experts, data = data, k = k, model = FLXMRmultinom(),
          concomitant = FLXPmultinom(gate), control = control)
} else {
  flexmix(experts, data = data, k = k, cluster = cluster, model = FLXMRmultinom(),
          concomitant = FLXPmultinom(gate), control = control)
}
seconds <- proc.time()[["elapsed"]] - started
cat(as.numeric(logLik(fit)), fit@iter, seconds, fit@converged, "\n")
