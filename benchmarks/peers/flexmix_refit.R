# Standard errors of a flexmix fit of the mixture, by summary(refit(fit)).
#
# Usage: Rscript flexmix_refit.R DATA.csv K TOL START.csv [GATE EXPERTS]
# DATA.csv as for flexmix_fit.R; START.csv (no header) the n x K initial
# posterior probabilities; GATE and EXPERTS the features of the gate and
# of the experts, comma-separated ("-" for an intercept only, a constant
# gate without concomitant model; default all). Prints the log-likelihood on the first line,
# then one line per coefficient: block (an expert "Comp.j" or "gate.Comp.j"),
# its row (1 = intercept, then the features in order), estimate, standard
# error.
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
data$y <- factor(data$y)
features <- setdiff(names(data), "y")
chosen <- function(i) {
  if (length(args) < i) return(features)
  if (args[i] == "-") return(character(0))
  strsplit(args[i], ",")[[1]]
}
terms <- function(names) if (length(names)) paste(names, collapse = " + ") else "1"
experts <- as.formula(paste("y ~", terms(chosen(6))))
gate_features <- chosen(5)
concomitant <- if (length(gate_features)) {
  FLXPmultinom(as.formula(paste("~", terms(gate_features))))
} else {
  FLXPconstant()
}
cluster <- as.matrix(read.csv(args[4], header = FALSE))
fit <- flexmix(experts, data = data, k = as.integer(args[2]), cluster = cluster,
               model = FLXMRmultinom(), concomitant = concomitant,
               control = list(tolerance = as.numeric(args[3]), iter.max = 10000L,
                              minprior = 0, verbose = 0))
refitted <- refit(fit)
cat(as.numeric(logLik(fit)), "\n")
show_block <- function(name, table) {
  table <- as.matrix(table)
  for (i in seq_len(nrow(table))) cat(name, i, table[i, 1], table[i, 2], "\n")
}
for (name in names(refitted@components[[1]])) {
  show_block(name, refitted@components[[1]][[name]])
}
for (name in names(refitted@concomitant)) {
  show_block(paste0("gate.", name), refitted@concomitant[[name]])
}
