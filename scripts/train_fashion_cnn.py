"""Re-create the shipped Fashion-MNIST model: data/models/fashion_cnn.weights.h5 and its JSON record.

    python scripts/train_fashion_cnn.py [--epochs 6] [--seed 0]
"""
import argparse
import json

from introspect.models import train_fashion_cnn

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()
print(json.dumps(train_fashion_cnn(epochs=args.epochs, seed=args.seed), indent=2))
