"""What AWS does by itself, which moto does not: each module names the AWS behaviour it stands in for."""
