"""The offline lifecycle: embedded AWS (moto server), pipeline executor, local serving."""
